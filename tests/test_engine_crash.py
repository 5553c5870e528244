"""An engine crash (a bug of ours, in the sandboxed child) is the server's failure, never
the sender's 4xx: logged once with what it was reading and the child's traceback, answered
with a plain message, nothing kept (issue 22, 2). A bug cannot be had on demand, so the
engine function the child runs is swapped for one that raises: the child, the pipe and
the parent's handling are all real."""

import logging

import pytest

from app import conversions, jobs
from app.jobs import body
from app.models import Conversion

from .api_helpers import Api, make_token
from .conftest import AuthActions, fetch
from .sheets.books import write_xlsx
from .test_convert import FORM, public_id_of, stored_files, upload, wait_for


def crash(*args, **kwargs):
    raise KeyError("a bug in the engine")


@pytest.fixture
def workbook(tmp_path):
    return write_xlsx(tmp_path / "report.xlsx", {"Data": [["a"], [1]]})


def engine_errors(caplog):
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_crash_reading_an_upload_is_a_plain_500_with_one_log_line(
    app, client, workbook, monkeypatch, caplog
):
    monkeypatch.setattr(conversions, "survey", crash)
    response = upload(client, workbook)
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "fault on its side" in page and "Traceback" not in page and "KeyError" not in page
    [record] = engine_errors(caplog)
    assert "The engine crashed in crash reading the upload" in record.getMessage()
    assert "KeyError: 'a bug in the engine'" in record.getMessage()  # the child's traceback
    assert record.exc_info is None  # not the parent's stack as well
    assert stored_files(app) == []
    assert fetch(app, Conversion) is None


def test_the_api_upload_answers_the_same_500(app, client, user, workbook, monkeypatch, caplog):
    monkeypatch.setattr(conversions, "survey", crash)
    api = Api(client, make_token(app))
    response = api.upload("/api/v1/conversions", workbook.read_bytes())
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "fault on its side" in response.get_json()["detail"]
    assert len(engine_errors(caplog)) == 1


def test_a_crash_in_a_job_fails_it_as_ours_and_logs_its_id_once(
    app, client, user, workbook, monkeypatch, caplog
):
    monkeypatch.setattr(body, "convert_in_child", crash)
    AuthActions(client).login()
    public_id = public_id_of(upload(client, workbook))
    client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"]})
    conversion = wait_for(app, public_id)
    assert conversion.status == "failed" and conversion.error == jobs.FAILED_ON_OUR_SIDE
    [record] = engine_errors(caplog)
    assert f"Conversion {conversion.id}: the engine crashed" in record.getMessage()
    assert "KeyError" in record.getMessage() and record.exc_info is None


def test_a_one_shot_that_crashes_is_a_500_not_a_422(app, client, user, workbook, monkeypatch):
    monkeypatch.setattr(body, "convert_in_child", crash)
    api = Api(client, make_token(app))
    response = api.upload("/api/v1/convert", workbook.read_bytes())
    assert response.status_code == 500
    assert response.get_json()["detail"] == jobs.FAILED_ON_OUR_SIDE
    assert fetch(app, Conversion) is None  # nothing of a refused one-shot is kept


def test_a_one_shot_refused_for_its_file_is_still_a_422(app, client, user, tmp_path):
    api = Api(client, make_token(app))
    workbook = write_xlsx(tmp_path / "report.xlsx", {"Data": [["a"], [1]]})
    response = api.upload("/api/v1/convert?sheet=Nope", workbook.read_bytes())
    assert response.status_code == 422


@pytest.mark.parametrize(
    "message, status",
    [
        (jobs.FAILED_ON_OUR_SIDE, 500),
        (jobs.STORAGE_DOWN, 503),
        (jobs.INTERRUPTED, 503),
        (jobs.UPLOAD_MISSING, 410),
        ("The file has no sheet named 'x'.", 422),
    ],
)
def test_failure_status(message, status):
    assert jobs.failure_status(message) == status
