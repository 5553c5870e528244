"""Cancel (issue 26, 4): a queued or running conversion (or every file of a batch still under
way) is cancelled from its page and by the API; the runner kills the child within about a
second, nothing it wrote is kept, and the status says cancelled. A conversion that has ended
cannot be cancelled (409, unchanged)."""

import json
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.orm.attributes import set_committed_value

from app import conversions, jobs
from app.extensions import db
from app.jobs import body
from app.models import AuditEvent, Batch, Conversion, WebhookDelivery

from .api_helpers import Api, make_token
from .conftest import AuthActions, fetch
from .forms import submit
from .sheets.books import write_xlsx
from .test_batches import batch_of, csv_bytes, upload_files
from .test_convert import FORM, WORKBOOK, hold_running, public_id_of, stored_files, wait_for
from .test_jobs import (
    big_csv,
    engine_children,
    is_gone,
    results_of,
    running_with_progress,
    start_xlsx,
    upload,
    wait_until,
)
from .test_webhooks import Receiver, secret_of


@pytest.fixture
def workbook(tmp_path):
    return write_xlsx(tmp_path / "report.xlsx", WORKBOOK)


@pytest.fixture
def held_jobs(app, monkeypatch):
    """The runner takes jobs but runs none: each stays queued until the test runs it."""
    taken = []
    monkeypatch.setattr(
        app.extensions["sheetport_jobs"], "submit", lambda *job: taken.append(job) or None
    )
    return taken


def uploaded(client, path):
    return public_id_of(upload(client, path))


def start(client, public_id, **fields):
    response = client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"], **fields})
    assert response.status_code == 302, response.status_code
    return response


def cancel(app, public_id, owner):
    """conversions.cancel as a view calls it; returns the time it took."""
    with app.test_request_context():
        began = time.monotonic()
        conversions.cancel(conversions.find(public_id, owner), by=owner)
        return time.monotonic() - began


def owner_of(app, public_id):
    return fetch(app, Conversion, public_id=public_id).session_key


def slow_child(path, target, options, scratch, parent_pid, limits, progress=None):
    """A child that writes half a result, then works for a minute without reporting."""
    body.die_with_parent(parent_pid)
    Path(target).write_bytes(b"half a result")
    time.sleep(60)


def left_behind(app, conversion):
    """What the upload folder holds besides the upload (a scratch folder, a result)."""
    return [name for name in stored_files(app) if name != conversion.stored_name]


# The service


def test_a_queued_job_that_is_cancelled_never_runs(app, client, workbook, held_jobs):
    public_id = uploaded(client, workbook)
    start(client, public_id)
    assert fetch(app, Conversion, public_id=public_id).status == "queued"
    cancel(app, public_id, owner_of(app, public_id))
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.status == "cancelled" and conversion.runner is None
    assert conversion.finished_at is not None and conversion.error is None
    # The runner picks it up later: the claim refuses it, nothing is written.
    (job,) = held_jobs
    jobs.run_conversion(app, *job)
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.status == "cancelled" and conversion.started_at is None
    assert results_of(app, conversion.id) == [] and left_behind(app, conversion) == []
    with app.app_context():
        event = db.session.scalar(db.select(AuditEvent).filter_by(action="conversion_cancel"))
    assert event.target == f"report.xlsx ({public_id})"


def test_a_running_conversion_is_stopped_and_leaves_nothing(app, client, tmp_path):
    public_id = start_xlsx(client, big_csv(tmp_path, rows=250_000))
    wait_until(lambda: running_with_progress(app, public_id), what="progress")
    (child,) = engine_children(app)
    assert not is_gone(child)
    took = cancel(app, public_id, owner_of(app, public_id))
    cancelled_at = time.monotonic()
    wait_until(lambda: is_gone(child), timeout=10, what="the child to go")
    latency = time.monotonic() - cancelled_at
    print(f"cancel took {took:.3f} s; the child was gone {latency:.3f} s after it")
    assert latency < 3
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.status == "cancelled"
    wait_until(lambda: left_behind(app, conversion) == [], timeout=10, what="the scratch to go")
    assert results_of(app, conversion.id) == []
    # The page and the poll say so; the file can be converted again.
    assert client.get(f"/convert/{public_id}/status").json == {
        "status": "cancelled",
        "percent": conversion.percent,
        "done": conversion.progress_done,
        "total": conversion.progress_total,
        "error": None,
        "download_url": None,
    }
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "The conversion was cancelled." in page and "Cancel conversion" not in page
    assert 'data-testid="download"' not in page


def test_a_child_that_reports_nothing_is_stopped_as_soon(app, client, tmp_path, monkeypatch):
    """The runner asks its row even while the child is silent (reading or closing a big
    workbook reports no rows): it does not wait for a progress write or the heartbeat."""
    monkeypatch.setattr(body, "convert_in_child", slow_child)
    public_id = start_xlsx(client, big_csv(tmp_path, rows=10))
    folder = Path(app.config["UPLOAD_FOLDER"])
    scratch = wait_until(lambda: list(folder.glob(".work-*")), what="the scratch folder")[0]
    wait_until(lambda: any(scratch.iterdir()), what="the half result")
    (child,) = engine_children(app)
    cancel(app, public_id, owner_of(app, public_id))
    cancelled_at = time.monotonic()
    wait_until(lambda: is_gone(child), timeout=10, what="the child to go")
    latency = time.monotonic() - cancelled_at
    print(f"a silent child was gone {latency:.3f} s after the cancel")
    assert latency < 2
    conversion = fetch(app, Conversion, public_id=public_id)
    wait_until(lambda: left_behind(app, conversion) == [], timeout=10, what="the scratch to go")
    assert conversion.status == "cancelled" and results_of(app, conversion.id) == []


def test_a_job_that_ends_first_wins_and_the_cancel_is_refused(app, client, workbook, monkeypatch):
    public_id = uploaded(client, workbook)
    hold_running(app, public_id)

    def ended_meanwhile(conversion):
        """The cancel read the job running; its last write lands before the cancel's."""
        db.session.execute(
            db.update(Conversion)
            .where(Conversion.id == conversion.id)
            .values(status=Conversion.DONE, lease_expires_at=None)
        )
        db.session.commit()
        assert conversion.status == Conversion.DONE
        set_committed_value(conversion, "status", Conversion.RUNNING)  # what it read
        return conversion

    monkeypatch.setattr(jobs, "reclaim_lapsed", ended_meanwhile)
    with pytest.raises(conversions.AlreadyEnded, match=r"already ended \(done\)"):
        cancel(app, public_id, owner_of(app, public_id))
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.status == "done" and conversion.finished_at is None
    with app.app_context():
        assert (
            db.session.scalar(db.select(AuditEvent).filter_by(action="conversion_cancel")) is None
        )


@pytest.mark.parametrize("status", ["done", "failed", "cancelled", "uploaded"])
def test_only_a_queued_or_running_conversion_can_be_cancelled(app, client, workbook, status):
    public_id = uploaded(client, workbook)
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.status, conversion.error = status, "kept as it was"
        db.session.commit()
    before = fetch(app, Conversion, public_id=public_id)
    with pytest.raises(conversions.AlreadyEnded) as refused:
        cancel(app, public_id, owner_of(app, public_id))
    assert refused.value.status == 409
    after = fetch(app, Conversion, public_id=public_id)
    assert (after.status, after.error, after.finished_at) == (status, "kept as it was", None)
    assert before.runner == after.runner


def test_someone_elses_conversion_cannot_be_cancelled(app, client, workbook):
    public_id = uploaded(client, workbook)
    hold_running(app, public_id)
    with pytest.raises(conversions.NotFound):
        cancel(app, public_id, "someone-else")
    assert fetch(app, Conversion, public_id=public_id).status == "running"


def test_a_cancelled_conversion_converts_again_or_is_deleted(app, client, workbook, held_jobs):
    public_id = uploaded(client, workbook)
    start(client, public_id)
    cancel(app, public_id, owner_of(app, public_id))
    held_jobs.clear()
    start(client, public_id)  # convert again: a new job
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.status == "queued" and conversion.runner is not None
    jobs.run_conversion(app, *held_jobs[0])
    assert wait_for(app, public_id).status == "done"
    with client.get(f"/convert/{public_id}/download") as download:
        assert download.status_code == 200
    cancel_again = client.post(f"/convert/{public_id}/cancel", follow_redirects=True)
    assert "already ended" in cancel_again.get_data(as_text=True)
    delete_page = f"/convert/{public_id}/delete"
    response = submit(client, delete_page, action=delete_page, button="Delete the files")
    assert response.headers["Location"] == "/history", response.status_code
    assert fetch(app, Conversion, public_id=public_id) is None
    assert stored_files(app) == []


def test_a_running_conversion_cannot_be_deleted_until_cancelled(app, client, workbook):
    public_id = uploaded(client, workbook)
    hold_running(app, public_id)
    with app.test_request_context(), pytest.raises(conversions.Busy, match="Cancel"):
        owner = owner_of(app, public_id)
        conversions.delete(conversions.find(public_id, owner), by=owner)
    cancel(app, public_id, owner_of(app, public_id))
    with app.test_request_context():
        owner = owner_of(app, public_id)
        conversions.delete(conversions.find(public_id, owner), by=owner)
    assert stored_files(app) == []


# The web


def test_the_page_cancels_with_its_own_form(app, client, workbook):
    public_id = uploaded(client, workbook)
    hold_running(app, public_id)
    page = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert "Cancel conversion" in page
    response = submit(client, f"/convert/{public_id}", action=f"/convert/{public_id}/cancel")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/convert/{public_id}"
    assert fetch(app, Conversion, public_id=public_id).status == "cancelled"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Cancelled report.xlsx." in page and "The conversion was cancelled." in page
    assert "Cancel conversion" not in page
    history = client.get("/history").get_data(as_text=True)
    assert "text-bg-warning" in history and ">cancelled<" in history
    assert client.get(f"/convert/{public_id}/status").json["status"] == "cancelled"


def test_a_cancel_without_the_forms_token_is_refused(app, client, workbook):
    public_id = uploaded(client, workbook)
    hold_running(app, public_id)
    assert client.post(f"/convert/{public_id}/cancel", csrf=False).status_code == 400
    assert client.get(f"/convert/{public_id}/cancel").status_code == 405
    assert fetch(app, Conversion, public_id=public_id).status == "running"


def test_someone_elses_page_cannot_cancel(app, client, workbook):
    public_id = uploaded(client, workbook)
    hold_running(app, public_id)
    stranger = app.test_client()
    assert stranger.post(f"/convert/{public_id}/cancel").status_code == 404
    assert client.post("/convert/no-such-id/cancel").status_code == 404
    assert fetch(app, Conversion, public_id=public_id).status == "running"


# The API


@pytest.fixture
def api(app, client, user):
    return Api(client, make_token(app))


def api_upload(api, workbook, query="?start=false"):
    created = api.upload("/api/v1/conversions", workbook.read_bytes(), query=query)
    assert created.status_code == 201, created.json
    return created.json


def test_the_api_cancels_a_running_conversion(app, api, workbook):
    public_id = api_upload(api, workbook)["id"]
    hold_running(app, public_id)
    shown = api.get(f"/api/v1/conversions/{public_id}").json
    assert shown["links"]["cancel"] == f"/api/v1/conversions/{public_id}/cancel"
    refused = api.delete(f"/api/v1/conversions/{public_id}")
    assert refused.status_code == 409
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert "Cancel the conversion" in refused.json["detail"]
    cancelled = api.post(shown["links"]["cancel"])
    assert cancelled.status_code == 200, cancelled.json
    assert cancelled.json["status"] == "cancelled" and cancelled.json["links"]["cancel"] is None
    assert cancelled.json["result"] is None and cancelled.json["finished_at"] is not None
    again = api.post(shown["links"]["cancel"])
    assert again.status_code == 409
    assert again.headers["Content-Type"] == "application/problem+json"
    assert "nothing to cancel" in again.json["detail"]
    result = api.get(f"/api/v1/conversions/{public_id}/result")
    assert result.status_code == 409 and "cancelled" in result.json["detail"]
    assert api.delete(f"/api/v1/conversions/{public_id}").status_code == 204


def test_the_api_refuses_to_cancel_a_finished_or_someone_elses(app, api, workbook, make_user):
    done = api_upload(api, workbook, query="?format=csv&sheet=Data")
    wait_for(app, done["id"])
    refused = api.post(f"/api/v1/conversions/{done['id']}/cancel")
    assert refused.status_code == 409
    assert fetch(app, Conversion, public_id=done["id"]).status == "done"
    assert api.post("/api/v1/conversions/nope/cancel").status_code == 404
    make_user(email="eve@example.com")
    eve = Api(app.test_client(), make_token(app, email="eve@example.com"))
    running = api_upload(api, workbook)["id"]
    hold_running(app, running)
    assert eve.post(f"/api/v1/conversions/{running}/cancel").status_code == 404
    assert fetch(app, Conversion, public_id=running).status == "running"


def test_a_cancelled_conversion_with_a_callback_gets_its_event(app, api, workbook, held_jobs):
    receiver = Receiver()
    try:
        app.config["OUTBOUND_ALLOWED_HOSTS"] = [f"127.0.0.1:{receiver.port}"]
        secret_of(api)
        query = f"?format=csv&sheet=Data&callback_url={quote(receiver.url)}"
        public_id = api_upload(api, workbook, query=query)["id"]
        assert api.post(f"/api/v1/conversions/{public_id}/cancel").status_code == 200
        wait_until(lambda: receiver.got, timeout=10, what="the event")
    finally:
        receiver.close()
    headers, sent = receiver.got[0]
    event = json.loads(sent)
    assert headers["Sheetport-Event"] == event["type"] == "conversion.cancelled"
    assert event["conversion"]["id"] == public_id
    assert event["conversion"]["status"] == "cancelled"
    assert event["conversion"]["result"] is None
    with app.app_context():
        (delivery,) = db.session.scalars(db.select(WebhookDelivery)).all()
        assert (delivery.event, delivery.state) == ("conversion.cancelled", "delivered")


def test_an_admin_filters_cancelled_conversions(app, client, workbook, admin):
    public_id = uploaded(client, workbook)
    hold_running(app, public_id)
    cancel(app, public_id, owner_of(app, public_id))
    staff = app.test_client()
    AuthActions(staff).login(email="root@example.com")
    listed = staff.get("/admin/conversions?status=cancelled")
    assert listed.status_code == 200 and "report.xlsx" in listed.get_data(as_text=True)


# A batch


def test_a_batch_cancels_every_file_still_under_way(app, client, held_jobs):
    files = [(f"{month}.csv", csv_bytes(month)) for month in ("jan", "feb", "mar")]
    public_id = batch_of(upload_files(client, files, quick=True))
    first, *others = held_jobs
    jobs.run_conversion(app, *first)  # one file finished before the cancel
    response = submit(client, f"/batches/{public_id}", form_id="cancel-batch-form")
    assert response.headers["Location"] == f"/batches/{public_id}", response.status_code
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Cancelled 2 conversions." in page and "cancel-batch-form" not in page
    assert "1 done" in page and "2 cancelled" in page and "text-bg-warning" in page
    for job in others:  # a worker takes them later: the claim refuses them
        jobs.run_conversion(app, *job)
    with app.app_context():
        batch = db.session.scalar(db.select(Batch).filter_by(public_id=public_id))
        statuses = [c.status for c in batch.conversions]
        events = db.session.scalars(db.select(AuditEvent).filter_by(action="conversion_cancel"))
        assert statuses == ["done", "cancelled", "cancelled"] and len(events.all()) == 2
    again = client.post(f"/batches/{public_id}/cancel", follow_redirects=True)
    assert "Nothing to cancel" in again.get_data(as_text=True)


def test_a_batch_cancel_needs_the_token_and_the_owner(app, client, held_jobs):
    files = [("a.csv", csv_bytes("a")), ("b.csv", csv_bytes("b"))]
    public_id = batch_of(upload_files(client, files, quick=True))
    assert client.post(f"/batches/{public_id}/cancel", csrf=False).status_code == 400
    assert app.test_client().post(f"/batches/{public_id}/cancel").status_code == 404
    with app.app_context():
        batch = db.session.scalar(db.select(Batch).filter_by(public_id=public_id))
        assert [c.status for c in batch.conversions] == ["queued", "queued"]
