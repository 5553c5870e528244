"""Hostile request bodies (issue 22, 1): JSON where a page takes a form, JSON nested deeper
than anything walks, numbers past Python's digit limit, bodies larger than options need.
Every route of the url_map is sent each one, signed in and not: a 4xx, never a 500, and
nothing in the log."""

import io
import logging
import re

import pytest

from app.security import JSON_BODY_MAX_BYTES, JSON_DEPTH_MAX, checked_json, has_nul

from .api_helpers import WORKBOOK, Api, make_token
from .conftest import AuthActions
from .sheets.books import write_xlsx

HOSTILE_JSON = {
    "600 open brackets": "[" * 600,
    "600 levels, closed": "[" * 600 + "]" * 600,
    "100,000 levels": "[" * 100_000 + "]" * 100_000,
    "objects 600 deep": '{"a":' * 600 + "1" + "}" * 600,
    "a 5,000-digit integer": '{"skip_rows": ' + "9" * 5000 + "}",
    "a list, not an object": '["a"]',
    "a string": '"a"',
    "not UTF-8": b'{"a": "\xff\xfe"}',
    "not JSON": "{nope",
}


def concrete_path(rule):
    path = re.sub(r"<int:\w+>", "1", rule.rule)
    return re.sub(r"<[^>]+>", "x", path)


def every_route(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, concrete_path(rule)


@pytest.fixture
def no_errors_logged(caplog):
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


def test_pages_refuse_json_bodies_with_415(app, client, admin, no_errors_logged):
    AuthActions(client).login(email="root@example.com")
    checked = 0
    for method, path in every_route(app):
        if path.startswith("/api/"):
            continue
        for body in HOSTILE_JSON.values():
            response = client.open(
                path,
                method=method,
                data=body,
                content_type="application/json",
                headers={"X-CSRFToken": "x"},
            )
            assert response.status_code == 415, (method, path, response.status_code)
            assert "takes a form, not JSON" in response.get_data(as_text=True)
        checked += 1
    assert checked > 40


def test_visitors_get_the_same_415(app, client, no_errors_logged):
    for path in ("/", "/help", "/convert", "/contact", "/theme", "/auth/login"):
        for body in HOSTILE_JSON.values():
            response = client.post(path, data=body, content_type="application/json")
            assert response.status_code == 415, path


def test_a_json_content_type_without_a_body_is_a_page_as_usual(client):
    assert client.get("/", content_type="application/json").status_code == 200


@pytest.mark.parametrize("token", [False, True], ids=["no token", "token"])
def test_the_api_refuses_unusable_json_before_the_token(app, client, user, token, no_errors_logged):
    headers = {"Authorization": f"Bearer {make_token(app)}"} if token else {}
    checked = 0
    for method, path in every_route(app):
        if not path.startswith("/api/v1"):
            continue
        for name, body in HOSTILE_JSON.items():
            if name in ("a list, not an object", "a string"):
                continue  # valid JSON: the schema answers those (below)
            response = client.open(
                path, method=method, data=body, content_type="application/json", headers=headers
            )
            assert response.status_code == 400, (name, method, path, response.status_code)
            assert response.mimetype == "application/problem+json"
        checked += 1
    assert checked > 5


def test_the_api_answers_valid_json_of_the_wrong_shape_with_422(
    app, client, user, tmp_path, no_errors_logged
):
    api = Api(client, make_token(app))
    workbook = write_xlsx(tmp_path / "report.xlsx", WORKBOOK).read_bytes()
    public_id = api.upload("/api/v1/conversions", workbook, query="?start=false").json["id"]
    for body in ('["a"]', '"a"', "1", "null", '{"skip_rows": "9999999999999999999999"}'):
        response = api.post(
            f"/api/v1/conversions/{public_id}/convert", data=body, content_type="application/json"
        )
        assert response.status_code in (400, 422), (body, response.status_code)
        assert response.mimetype == "application/problem+json"


def test_the_api_refuses_bodies_larger_than_options_need(app, client, user):
    api = Api(client, make_token(app))
    body = '{"sheet": ["' + "a" * JSON_BODY_MAX_BYTES + '"]}'
    response = api.post("/api/v1/conversions/x/convert", data=body, content_type="application/json")
    assert response.status_code == 413
    assert "larger than 512 KB" in response.get_json()["detail"]


def test_a_chunked_body_is_bounded_too(app, client, user):
    api = Api(client, make_token(app))

    body = io.BytesIO(b'{"sheet": ["' + b"a" * 600 * 1024 + b'"]}')
    response = api.post(
        "/api/v1/conversions/x/convert",
        input_stream=body,
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 413)


def test_checked_json_bounds():
    assert checked_json(b'{"a": [1, 2, {"b": "c"}]}') == {"a": [1, 2, {"b": "c"}]}
    nested = "[" * JSON_DEPTH_MAX + "]" * JSON_DEPTH_MAX
    assert checked_json(nested)
    for body in ("[" * (JSON_DEPTH_MAX + 1) + "]" * (JSON_DEPTH_MAX + 1), "9" * 101):
        with pytest.raises(ValueError):
            checked_json(body)


def test_has_nul_walks_without_recursing():
    value = ["x"]
    for _ in range(100_000):
        value = [value]
    assert not has_nul(value)
    value[0][0] = {"k": "a\x00"}
    assert has_nul(value)
