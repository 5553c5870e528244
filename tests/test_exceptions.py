"""The error vocabulary has one owner (issue 28, 1): app/exceptions.py. Infrastructure
errors are not engine errors, so a full disk while reading an upload is the server's 507,
never the user's 422, and nothing is committed for it; errors.py only answers errors, and
the modules below it import nothing above them."""

import ast
import errno
from pathlib import Path

import pytest

from app import exceptions, storage
from app.models import Conversion
from app.sheets import SheetError

from .api_helpers import Api, make_token
from .conftest import fetch
from .sheets.books import write_xlsx
from .test_convert import stored_files, upload

APP = Path(__file__).resolve().parent.parent / "app"


def disk_full_mkdir(real_mkdir):
    """mkdir as on a full disk for the engine's reading folders: a real OSError(ENOSPC),
    which the storage's own writable() turns into StorageFull."""

    def mkdir(path, *args, **kwargs):
        if path.name.startswith(storage.READ_PREFIX):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_mkdir(path, *args, **kwargs)

    return mkdir


@pytest.fixture
def reading_disk_full(monkeypatch):
    monkeypatch.setattr(Path, "mkdir", disk_full_mkdir(Path.mkdir))


def test_infrastructure_errors_are_not_engine_errors():
    for kind in (exceptions.StorageFull, exceptions.StoredFileMissing, exceptions.Unavailable):
        assert not issubclass(kind, SheetError), kind


@pytest.fixture
def workbook(tmp_path):
    return write_xlsx(tmp_path / "report.xlsx", {"Data": [["a"], [1]]})


def test_a_full_disk_while_reading_an_upload_is_507(app, client, workbook, reading_disk_full):
    response = upload(client, workbook)
    assert response.status_code == 507
    assert "storage is full" in response.get_data(as_text=True)
    assert fetch(app, Conversion) is None and stored_files(app) == []


def test_a_full_disk_while_reading_later_commits_nothing(app, client, user, workbook, monkeypatch):
    api = Api(client, make_token(app))
    # Received without a look inside (as the one-shot does); read when first shown.
    from app import conversions

    real = conversions.receive_upload
    monkeypatch.setattr(
        conversions, "receive_upload", lambda f, o, look_inside=True: real(f, o, False)
    )
    public_id = api.upload("/api/v1/conversions", workbook.read_bytes(), query="?start=false")
    public_id = public_id.get_json()["id"]
    real_mkdir = Path.mkdir
    with monkeypatch.context() as full:
        full.setattr(Path, "mkdir", disk_full_mkdir(real_mkdir))
        response = api.get(f"/api/v1/conversions/{public_id}")
    assert response.status_code == 507
    assert "sheets" not in fetch(app, Conversion, public_id=public_id).info  # not "no sheets"
    body = api.get(f"/api/v1/conversions/{public_id}").get_json()
    assert [sheet["name"] for sheet in body["sheets"]] == ["Data"]  # once there is room


def imports_of(module):
    """The app modules `module` (a path under app/) imports, as dotted names under app."""
    tree = ast.parse((APP / module).read_text())
    package = ["app", *Path(module).with_suffix("").parts[:-1]]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app"):
            found.add(node.module)
    return found


def test_the_error_modules_import_nothing_above_them():
    assert not imports_of("errors.py") & {"app.conversions", "app.storage", "app.jobs"}
    assert not imports_of("exceptions.py") & {
        "app.errors",
        "app.conversions",
        "app.storage",
        "app.jobs",
        "app.email",
    }
    job_modules = [f"jobs/{path.name}" for path in (APP / "jobs").glob("*.py")]
    for module in ("storage.py", *job_modules, "email.py", "conversions.py", "periodic.py"):
        assert "app.errors" not in imports_of(module), module
