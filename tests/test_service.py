"""The conversion service (app/conversions.py) called directly with an owner, no request:
what the web views and the API share. And the seams between the service, the runner
(app/jobs/) and the storage (app/storage.py), checked on the source."""

import ast
import io
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.datastructures import FileStorage

from app import conversions, jobs, storage
from app.extensions import db
from app.jobs import runners
from app.models import AuditEvent, Conversion, User, utcnow

from .sheets.books import write_xlsx
from .test_convert import WORKBOOK, stored_files

APP = Path(__file__).resolve().parent.parent / "app"
CSV = b"id,name\n1,Ada\n2,Grace\n"


def file(data=CSV, name="people.csv"):
    return FileStorage(stream=io.BytesIO(data), filename=name)


def finished(conversion, job):
    assert conversions.wait_for_job(conversion, 30, job), "the job did not finish"
    return conversion


@pytest.fixture
def service(app, user):
    """An app context, no request: the service's only surroundings here."""
    with app.app_context():
        yield db.session.get(User, user.id)


CSV_OPTIONS = {"format": "csv", "sheets": ["people"], "name_stem": "people"}


def test_an_upload_belongs_to_its_owner_only(service, app):
    ada = service
    mine = conversions.receive_upload(file(), ada)
    visitors = conversions.receive_upload(file(), "visitor-key")
    assert mine.user_id == ada.id and mine.session_key is None
    assert visitors.user_id is None and visitors.session_key == "visitor-key"
    assert conversions.find(mine.public_id, ada) is mine
    assert conversions.find(visitors.public_id, "visitor-key") is visitors
    for public_id, stranger in [
        (mine.public_id, "visitor-key"),
        (mine.public_id, None),
        (visitors.public_id, ada),
        (visitors.public_id, "another-key"),
        (visitors.public_id, None),
        ("no-such-id", ada),
    ]:
        with pytest.raises(conversions.NotFound):
            conversions.find(public_id, stranger)
    assert db.session.scalars(conversions.listing(ada)).all() == [mine]
    assert db.session.scalars(conversions.listing("visitor-key")).all() == [visitors]
    assert db.session.scalars(conversions.listing(None)).all() == []
    assert db.session.scalars(conversions.listing("another-key")).all() == []


def test_an_upload_needs_an_owner(service):
    with pytest.raises(ValueError):
        conversions.receive_upload(file(), None)


def test_limits_follow_the_owner(service, app):
    assert conversions.upload_limit(service) > conversions.upload_limit("visitor-key")
    assert conversions.upload_limit(None) == conversions.upload_limit("visitor-key")
    big = b"x," * (conversions.upload_limit("visitor-key") // 2 + 10)
    with pytest.raises(conversions.UploadTooLarge, match="Sign in to upload larger files"):
        conversions.receive_upload(file(big), "visitor-key")
    with pytest.raises(conversions.NotSpreadsheet) as refused:
        conversions.receive_upload(file(b"\x00\x01\x02binary" * 50, "x.bin"), service)
    assert refused.value.status == 415
    assert stored_files(app) == []
    assert db.session.scalars(conversions.listing(service)).all() == []


def test_start_convert_download_delete(service, app):
    conversion = conversions.receive_upload(file(), service)
    with pytest.raises(conversions.NotReady, match="not finished"):
        conversions.result_download(conversion)
    job = conversions.start(conversion, CSV_OPTIONS)
    with pytest.raises(conversions.Busy, match="already being converted"):
        conversions.start(conversion, CSV_OPTIONS)
    finished(conversion, job)
    assert conversion.status == Conversion.DONE, conversion.error
    # A response is made inside a request (Flask's send_file), even though the service
    # reads nothing from it.
    with app.test_request_context(), conversions.result_download(conversion) as response:
        response.direct_passthrough = False
        assert response.get_data() == b"id,name\r\n1,Ada\r\n2,Grace\r\n"
    assert len(stored_files(app)) == 2
    public_id = conversion.public_id
    conversions.delete(conversion, by=service)
    assert stored_files(app) == []
    with pytest.raises(conversions.NotFound):
        conversions.find(public_id, service)
    event = db.session.scalar(db.select(AuditEvent).filter_by(action="conversion_delete"))
    assert event.actor_id == service.id and public_id in event.target


def test_a_running_conversion_is_neither_deleted_nor_read_again(service, app):
    conversion = conversions.receive_upload(file(), "visitor-key")
    conversion.status = Conversion.RUNNING
    conversion.lease_expires_at = utcnow() + timedelta(hours=1)  # a runner holds it
    db.session.commit()
    with pytest.raises(conversions.Busy, match="then delete it"):
        conversions.delete(conversion, by="visitor-key")
    with pytest.raises(conversions.Busy, match="change how the file is read"):
        conversions.read_as(conversion, "cp1252")
    assert conversions.find(conversion.public_id, "visitor-key") is conversion
    assert len(stored_files(app)) == 1


def test_options_that_cannot_be_used_are_refused_and_a_fresh_upload_goes(service, app):
    kept = conversions.receive_upload(file(), service)
    with pytest.raises(conversions.OptionsRefused, match="no sheet named 'Nope'"):
        conversions.start(kept, {**CSV_OPTIONS, "sheets": ["Nope"]})
    assert kept.status == Conversion.UPLOADED and kept.options == {}
    fresh = conversions.receive_upload(file(), service)
    with pytest.raises(conversions.OptionsRefused, match="Unknown encoding"):
        conversions.start(fresh, {**CSV_OPTIONS, "encoding": "klingon"}, fresh=True)
    assert db.session.scalars(conversions.listing(service)).all() == [kept]
    assert stored_files(app) == [kept.stored_name]


def test_notify_only_a_confirmed_user(service, app):
    conversion = conversions.receive_upload(file(), "visitor-key")
    finished(conversion, conversions.start(conversion, CSV_OPTIONS, notify=True))
    assert conversion.notify is False  # nobody to tell
    service.confirmed = False
    conversion = conversions.receive_upload(file(), service)
    finished(conversion, conversions.start(conversion, CSV_OPTIONS, notify=True))
    assert conversion.notify is False  # an unconfirmed address may be a stranger's
    service.confirmed = True
    finished(conversion, conversions.start(conversion, CSV_OPTIONS, notify=True))
    assert conversion.notify is True


def test_retry_only_a_failed_one(service):
    conversion = conversions.receive_upload(file(), service)
    with pytest.raises(conversions.Busy, match="Only a failed conversion"):
        conversions.retry(conversion)
    conversion.status, conversion.options = Conversion.FAILED, CSV_OPTIONS
    db.session.commit()
    finished(conversion, conversions.retry(conversion))
    assert conversion.status == Conversion.DONE


def test_expired_ones_answer_expired_and_cleanup_deletes_them(service, app):
    conversion = conversions.receive_upload(file(), service)
    public_id = conversion.public_id
    conversion.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    with pytest.raises(conversions.Expired) as refused:
        conversions.find(public_id, service)
    assert refused.value.status == 410
    assert conversions.cleanup() == 1
    assert stored_files(app) == []
    with pytest.raises(conversions.NotFound):
        conversions.find(public_id, service)


def test_delete_all_takes_one_owners_files_only(service, app, tmp_path):
    workbook = write_xlsx(tmp_path / "report.xlsx", WORKBOOK)
    theirs = [conversions.receive_upload(file(), "visitor-key") for _ in range(2)]
    theirs.append(
        conversions.receive_upload(file(workbook.read_bytes(), "report.xlsx"), "visitor-key")
    )
    mine = conversions.receive_upload(file(), service)
    conversions.delete_all("visitor-key")
    assert db.session.scalars(conversions.listing("visitor-key")).all() == []
    assert db.session.scalars(conversions.listing(service)).all() == [mine]
    assert stored_files(app) == [mine.stored_name]


def test_previews_and_sheets_are_read_once(service, app, tmp_path):
    workbook = write_xlsx(tmp_path / "report.xlsx", WORKBOOK)
    conversion = conversions.receive_upload(
        file(workbook.read_bytes(), "report.xlsx"), service, look_inside=False
    )
    assert "sheets" not in conversion.info  # read when first needed
    conversion = conversions.inspected(conversions.find(conversion.public_id, service))
    assert conversions.sheet_names(conversion) == ["Data", "Other"]
    shown = conversions.sheet_preview(conversion, "Other")
    assert shown.rows[0] == ["x"] and shown.row_count == len(WORKBOOK["Other"])
    with pytest.raises(conversions.NoSuchSheet, match="no sheet named"):
        conversions.sheet_preview(conversion, "Missing")


# --- the seams, on the source ---------------------------------------------------------------


def imported_names(path):
    """Every name a module imports, as 'module.name' (relative imports keep their dots)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


REQUEST_GLOBALS = {"session", "current_user", "request", "abort", "flash", "g"}


def test_the_service_reads_nothing_from_the_request():
    source = APP / "conversions.py"
    imported = imported_names(source)
    from_web = {
        name
        for name in imported
        if name.split(".")[0] in ("flask", "flask_login") and name.split(".")[-1] in REQUEST_GLOBALS
    }
    assert from_web == set(), f"conversions.py imports request globals: {from_web}"
    used = {
        node.id for node in ast.walk(ast.parse(source.read_text())) if isinstance(node, ast.Name)
    }
    assert used.isdisjoint(REQUEST_GLOBALS), used & REQUEST_GLOBALS


def test_jobs_is_only_the_runner():
    # From inside the package the app's modules are "..name": compared without the dots.
    imported = {
        name.lstrip(".") for path in (APP / "jobs").glob("*.py") for name in imported_names(path)
    }
    service_parts = {"conversions", "periodic", "email.send_email", "cli"}
    leaks = {name for name in imported if any(name.startswith(p) for p in service_parts)}
    assert leaks == set(), f"app/jobs/ imports the service's parts: {leaks}"
    for moved in (
        "start",
        "delete_conversion",
        "cleanup",
        "sweep_files",
        "storage",
        "run_once_per_interval",
        "per_process_warnings",
        "start_periodic_timer",
    ):
        assert not callable(getattr(jobs, moved, None)), f"jobs.{moved} belongs elsewhere"
    for runner in (jobs.InProcessRunner, jobs.RQRunner):  # one interface, two backends
        assert issubclass(runner, jobs.Runner)
        assert runner.submit is not jobs.Runner.submit and runner.holds is not jobs.Runner.holds


def test_the_service_leaves_the_lease_to_the_jobs_package():
    """conversions.py starts a job through jobs.enqueue: it never sets or tests a lease."""
    tree = ast.parse((APP / "conversions.py").read_text())
    written = {
        target.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign)
        for target in getattr(node, "targets", [getattr(node, "target", None)])
        if isinstance(target, ast.Attribute)
    }
    assert written.isdisjoint({"runner", "lease_expires_at"}), written
    source = "\n".join(path.read_text() for path in APP.rglob("*.py"))
    assert source.count("Conversion.runner == ") == 1  # jobs.held_by, the one predicate


def test_a_queued_job_names_the_function_every_worker_imports():
    """RQ stores the dotted name of what a worker runs: the package's, so that workers of
    an earlier or a later version run the same job."""
    from rq.utils import import_attribute

    assert import_attribute(runners.QUEUED_FUNCTION) is jobs.run_queued


def test_the_storage_backends_share_one_interface():
    local = {name for name in vars(storage.Storage) if not name.startswith("_")}
    s3 = {name for name in vars(storage.S3Storage) if not name.startswith("_")}
    assert local - {"path"} <= s3, local - s3  # `path`: the folder's own detail
    assert callable(storage.for_app) and callable(storage.current)


def test_web_and_api_views_share_the_service_path():
    """Neither set of views keeps its own guards or lookups: they call the service."""
    for views in ("convert/views.py", "api/views.py", "admin/views.py"):
        source = (APP / views).read_text()
        for duplicate in ("jobs.", "delete_conversion(conversion)", "(Conversion.QUEUED, "):
            assert duplicate not in source, f"{views} does the service's work: {duplicate}"
