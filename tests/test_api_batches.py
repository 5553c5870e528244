"""Batches in the API (issue 26, 1 and 27, 5): several files in one request, or a zip of
them; each converted the same way; the batch's resource; one zip of the results."""

import io
import time
import zipfile

from app.models import Batch, Conversion

from .api_helpers import Api, make_token
from .conftest import fetch
from .test_api import assert_problem


def files(*named):
    return {"file": [(io.BytesIO(content), name) for name, content in named]}


def post_batch(api, named, query=""):
    return api.post(
        "/api/v1/batches" + query, data=files(*named), content_type="multipart/form-data"
    )


def wait_finished(api, public_id, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/batches/{public_id}").json
        if body["finished"]:
            return body
        time.sleep(0.05)
    raise AssertionError("the batch did not finish")


def test_a_batch_through_the_api(app, client, user):
    api = Api(client, make_token(app))
    response = post_batch(
        api,
        [("a.csv", b"x,y\n1,2\n"), ("b.csv", b"x,y\n3,4\n"), ("bad.xlsx", b"PK\x03\x04 no")],
        "?format=json",
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert response.headers["Location"] == f"/api/v1/batches/{body['id']}"
    assert [f["name"] for f in body["files"]] == ["a.csv", "b.csv"]
    assert body["refused"][0]["name"] == "bad.xlsx" and body["refused"][0]["error"]
    done = wait_finished(api, body["id"])
    assert done["counts"] == {"done": 2}
    assert all(f["result"]["name"].endswith(".json") for f in done["files"])
    result = api.get(done["links"]["result"])
    assert result.status_code == 200 and result.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(result.get_data())) as archive:
        assert sorted(archive.namelist()) == ["a.json", "b.json"]

    again = api.post(f"/api/v1/batches/{body['id']}/convert", json={"format": "tsv"})
    assert again.status_code == 202
    done = wait_finished(api, body["id"])
    assert {f["result"]["name"] for f in done["files"]} == {"a.tsv", "b.tsv"}


def test_upload_only_then_nothing_to_download(app, client, user):
    api = Api(client, make_token(app))
    body = post_batch(api, [("a.csv", b"x\n1\n")], "?start=false").json
    assert body["counts"] == {"uploaded": 1} and body["links"]["result"] is None
    assert_problem(api.get(f"/api/v1/batches/{body['id']}/result"), 409)


def test_a_zip_of_files_is_a_batch(app, client, user):
    api = Api(client, make_token(app))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("one.csv", "x\n1\n")
        archive.writestr("two.csv", "x\n2\n")
    body = post_batch(api, [("both.zip", buffer.getvalue())]).json
    assert sorted(f["name"] for f in body["files"]) == ["one.csv", "two.csv"]


def test_bad_requests(app, client, user, make_user):
    api = Api(client, make_token(app))
    assert_problem(api.post("/api/v1/batches", json={}), 415)
    assert_problem(api.post("/api/v1/batches", data={}, content_type="multipart/form-data"), 422)
    assert_problem(post_batch(api, [("a.csv", b"x\n1\n")], "?format=nope"), 422)
    assert_problem(post_batch(api, [("a.csv", b"x\n1\n")], "?delimeter=;"), 422)
    assert fetch(app, Conversion) is None and fetch(app, Batch) is None
    assert_problem(api.get("/api/v1/batches/nope"), 404)
    # Someone else's batch is not there.
    body = post_batch(api, [("a.csv", b"x\n1\n")], "?start=false").json
    make_user(email="eve@example.com")
    eve = Api(client, make_token(app, email="eve@example.com"))
    assert_problem(eve.get(f"/api/v1/batches/{body['id']}"), 404)
    assert_problem(eve.post(f"/api/v1/batches/{body['id']}/convert", json={}), 404)
    assert_problem(eve.get(f"/api/v1/batches/{body['id']}/result"), 404)


def test_more_than_a_batch_holds(app, client, user):
    app.config["BATCH_MAX_FILES"] = 2
    api = Api(client, make_token(app))
    response = post_batch(api, [(f"{i}.csv", b"x\n1\n") for i in range(3)])
    assert_problem(response, 422, "at most 2 files")
    assert fetch(app, Batch) is None


def test_convert_says_which_files_were_not_started(app, client, user):
    api = Api(client, make_token(app))
    body = post_batch(api, [("a.csv", b"x\n1\n"), ("b.csv", b"x\n2\n")], "?start=false").json
    assert body["files"][0]["status"] == "uploaded" and "not_started" not in body
    with app.app_context():
        from app.extensions import db
        from app.models import utcnow

        expired = db.session.scalar(db.select(Conversion).filter_by(original_name="a.csv"))
        expired.expires_at = utcnow()
        db.session.commit()
    response = api.post(f"/api/v1/batches/{body['id']}/convert", json={"format": "tsv"})
    assert response.status_code == 202
    assert response.json["not_started"] == [
        {"name": "a.csv", "error": "it has expired; upload it again"}
    ]
    assert wait_finished(api, body["id"])["counts"] == {"uploaded": 1, "done": 1}
