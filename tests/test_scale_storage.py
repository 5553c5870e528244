"""S3-compatible storage (STORAGE_URL=s3://...) against moto's real S3 API server."""

import os
import time
from datetime import timedelta

import pytest

from app import conversions, jobs, storage
from app.extensions import db
from app.models import Conversion, utcnow
from app.sheets import Options, convert
from app.storage import S3Storage

from .conftest import fetch
from .scale import new_bucket, objects_in, s3_server
from .sheets.books import write_xlsx
from .test_convert import FORM, WORKBOOK, public_id_of, upload, wait_for


@pytest.fixture(scope="module")
def s3_endpoint():
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint):
    return new_bucket(s3_endpoint)


@pytest.fixture
def app_settings(bucket):
    return bucket[0]


@pytest.fixture
def s3(bucket):
    _, client, name = bucket
    return lambda: objects_in(client, name)


@pytest.fixture
def workbook(tmp_path):
    return write_xlsx(tmp_path / "report.xlsx", WORKBOOK)


def local_files(app):
    folder = app.config["UPLOAD_FOLDER"]
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_the_factory_picks_the_bucket(app):
    with app.app_context():
        files = storage.current()
        assert isinstance(files, S3Storage) and files.prefix == "files"
        assert storage.current() is files  # one client per process


def test_upload_convert_download_delete(app, client, workbook, tmp_path, s3):
    response = upload(client, workbook)
    public_id = public_id_of(response)
    conversion = fetch(app, Conversion, public_id=public_id)
    assert s3() == [f"files/{conversion.stored_name}"]
    assert local_files(app) == []  # the upload went to the bucket, no copy stays behind
    page = client.get(f"/convert/{public_id}?sheet=Other").get_data(as_text=True)
    assert ">Other" in page  # a preview read from a local copy of the object
    client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["Data"]})
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", conversion.error
    assert sorted(s3()) == sorted(
        f"files/{name}" for name in (conversion.stored_name, conversion.result_stored_name)
    )
    assert local_files(app) == []  # scratch folder and local copies are gone
    expected = tmp_path / "expected.csv"
    convert(workbook, expected, Options(sheets=["Data"]))
    with client.get(f"/convert/{public_id}/download") as download:
        assert download.status_code == 200
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert download.mimetype == "text/csv"
        assert int(download.headers["Content-Length"]) == expected.stat().st_size
        assert download.data == expected.read_bytes()
    response = client.post(f"/convert/{public_id}/delete", follow_redirects=True)
    assert b"Deleted report.xlsx and its files." in response.data
    assert s3() == [] and local_files(app) == []


def test_xlsx_result_byte_for_byte(app, client, workbook, tmp_path, s3):
    public_id = public_id_of(upload(client, workbook))
    client.post(f"/convert/{public_id}", data={**FORM, "output_format": "xlsx", "sheets": ["Data"]})
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", conversion.error
    with client.get(f"/convert/{public_id}/download") as download:
        assert download.data[:2] == b"PK"
        assert len(download.data) == conversion.result_size
    assert len(s3()) == 2


def test_bad_upload_leaves_no_object(app, client, s3):
    response = upload(client, b"\x00\x01 not a spreadsheet \xff" * 10, name="junk.xlsx")
    assert response.status_code == 400
    assert s3() == [] and local_files(app) == []


def test_failed_conversion_leaves_only_the_upload(app, client, tmp_path, s3):
    path = tmp_path / "wide.csv"
    path.write_text("a,b\n1,2\n")
    public_id = public_id_of(upload(client, path))
    conversion = fetch(app, Conversion, public_id=public_id)
    with app.app_context():
        # The stored upload vanishes behind Sheetport's back: the job fails, says so plainly.
        storage.current().delete(conversion.stored_name)
    response = client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["wide"]})
    assert response.status_code == 302
    conversion = wait_for(app, public_id)
    assert conversion.status == "failed" and conversion.error == jobs.UPLOAD_MISSING
    assert s3() == [] and local_files(app) == []


def test_a_result_missing_from_the_bucket_answers_410(app, client, workbook, s3):
    public_id = public_id_of(upload(client, workbook, quick=True))
    conversion = wait_for(app, public_id)
    assert conversion.status == "done", conversion.error
    with app.app_context():
        storage.current().delete(conversion.result_stored_name)
        assert not storage.current().exists(conversion.result_stored_name)
        assert storage.current().exists(conversion.stored_name)
    download = client.get(f"/convert/{public_id}/download")
    assert download.status_code == 410
    assert b"The converted file is no longer stored on the server" in download.data


def test_retention_cleanup_and_orphan_sweep_remove_objects(app, client, workbook, s3, bucket):
    _, client_s3, name = bucket
    kept = public_id_of(upload(client, workbook, quick=True))
    expired = public_id_of(upload(client, workbook, quick=True))
    wait_for(app, kept)
    wait_for(app, expired)
    assert len(s3()) == 4
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=expired))
        conversion.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        assert conversions.cleanup() == 1
    assert len(s3()) == 2
    # An object no row owns (a process died between upload and commit): old ones go.
    orphan = "0123456789abcdef0123456789abcdef.csv"
    client_s3.put_object(Bucket=name, Key=f"files/{orphan}", Body=b"x")
    client_s3.put_object(Bucket=name, Key="files/not-ours.txt", Body=b"y")
    with app.app_context():
        assert conversions.sweep_files() == []  # too recent: it may be an upload in progress
        removed = conversions.sweep_files(now=utcnow() + timedelta(days=2))
        assert removed == [orphan]
        assert storage.current().usage() > 0
    assert f"files/{orphan}" not in s3() and "files/not-ours.txt" in s3()
    assert len(s3()) == 3
    with client.get(f"/convert/{kept}/download") as download:
        assert download.data.startswith(b"id,name,code")


def test_the_cleanup_command_sweeps_the_bucket(app, runner, bucket, s3):
    _, client_s3, name = bucket
    client_s3.put_object(Bucket=name, Key="files/" + "a" * 32, Body=b"x")
    time.sleep(0.01)
    result = runner.invoke(args=["cleanup"])
    assert result.exit_code == 0
    assert s3() == ["files/" + "a" * 32]  # younger than the retention period


def test_a_bad_storage_url_is_refused(tmp_path):
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        S3Storage("https://example.com/x", tmp_path)
