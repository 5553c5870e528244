"""The API's contract holds (issue 27, 3): unknown parameters and fields are refused by name,
whatever a GET returns as options can be posted back, `sheet` is one name or a list, no
message shows a Python repr, Retry-After only says when to come back (429, 503), and a
sheet that is not there is a missing resource (404)."""

import json

import pytest

from .api_helpers import Api, make_token
from .sheets.books import write_xlsx
from .test_api import wait_done

PROBLEM = "application/problem+json"
BOOK = {"Data": [["id", "name"], [1, "Ada"], [2, "Bob"]], "Other": [["x"], [1]]}


@pytest.fixture
def api(app, client, user):
    return Api(client, make_token(app))


@pytest.fixture
def workbook(tmp_path):
    return write_xlsx(tmp_path / "people.xlsx", BOOK).read_bytes()


@pytest.fixture
def uploaded(api, workbook):
    return api.upload("/api/v1/conversions", workbook, "people.xlsx", "?start=false").json["id"]


def problem_names(response):
    assert response.mimetype == PROBLEM, response.get_data(as_text=True)
    return {error.get("name") for error in response.json.get("errors", [])}


def test_a_misspelled_query_option_is_refused_by_name(api, workbook):
    response = api.upload("/api/v1/convert", workbook, "people.xlsx", "?delimeter=;")
    assert response.status_code == 422
    assert problem_names(response) == {"delimeter"}
    assert "delimeter" in response.json["detail"]


def test_unknown_fields_are_refused_everywhere(api, workbook, uploaded):
    cases = [
        api.upload("/api/v1/conversions", workbook, "people.xlsx", "?colour=red"),
        api.get("/api/v1/conversions?pagesize=5"),
        api.get(f"/api/v1/conversions/{uploaded}/preview?sheets=Data"),
        api.post(
            f"/api/v1/conversions/{uploaded}/convert", json={"format": "csv", "delimeter": ";"}
        ),
    ]
    for response, name in zip(cases, ["colour", "pagesize", "sheets", "delimeter"], strict=True):
        assert response.status_code == 422, (name, response.get_data(as_text=True))
        assert name in problem_names(response)
        assert name in response.json["detail"]


def test_options_as_form_fields_are_refused_with_where_they_go(api, workbook):
    response = api.post(
        "/api/v1/convert",
        data={"file": (__import__("io").BytesIO(workbook), "people.xlsx"), "format": "json"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "format" in problem_names(response)
    assert "query" in response.json["detail"]


def test_the_options_a_get_returns_can_be_posted_back(api, uploaded):
    sent = {"format": "tsv", "sheet": ["Other"], "skip_rows": 1, "header": False}
    assert api.post(f"/api/v1/conversions/{uploaded}/convert", json=sent).status_code == 202
    first = wait_done(api, uploaded)
    assert first["status"] == "done"
    options = first["options"]
    assert options["sheet"] == ["Other"] and options["format"] == "tsv"
    assert "sheets" not in options and "name_stem" not in options
    again = api.post(f"/api/v1/conversions/{uploaded}/convert", json=options)
    assert again.status_code == 202, again.get_data(as_text=True)
    assert wait_done(api, uploaded)["options"] == options


@pytest.mark.parametrize("sheet", ["Other", ["Other"]])
def test_sheet_is_one_name_or_a_list(api, uploaded, sheet):
    response = api.post(f"/api/v1/conversions/{uploaded}/convert", json={"sheet": sheet})
    assert response.status_code == 202, response.get_data(as_text=True)
    assert wait_done(api, uploaded)["options"]["sheet"] == ["Other"]


def test_no_message_shows_a_python_repr(api, uploaded):
    response = api.post(
        f"/api/v1/conversions/{uploaded}/convert", json={"sheet": ["", "x" * 300], "skip_rows": "a"}
    )
    assert response.status_code == 422
    text = json.dumps(response.json)
    assert "{0:" not in text and "['" not in text and "{'" not in text
    assert {"sheet[0]", "sheet[1]", "skip_rows"} <= problem_names(response)


def test_retry_after_only_when_there_is_something_to_wait_for(app, api, workbook, uploaded):
    answers = [
        api.get("/api/v1/me"),
        api.get(f"/api/v1/conversions/{uploaded}"),
        api.upload("/api/v1/conversions", workbook, "people.xlsx", "?start=false"),
        api.post(f"/api/v1/conversions/{uploaded}/convert", json={}),
        api.get("/api/v1/conversions/nope"),
    ]
    for response in answers:
        assert "Retry-After" not in response.headers, (response.status_code, response.headers)


@pytest.mark.parametrize(
    "app_settings",
    [
        {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "API_RATE_LIMIT": "2 per minute",
        }
    ],
)
def test_a_429_says_when_to_come_back(api, app_settings):
    answers = [api.get("/api/v1/me") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "Retry-After" not in answers[0].headers
    assert int(answers[2].headers["Retry-After"]) > 0


def test_a_sheet_that_is_not_there_is_404(api, uploaded):
    response = api.get(f"/api/v1/conversions/{uploaded}/preview?sheet=Nope")
    assert response.status_code == 404
    assert "no sheet named 'Nope'" in response.json["detail"]
    assert api.get(f"/api/v1/conversions/{uploaded}/preview?sheet=Other").status_code == 200
