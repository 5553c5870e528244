"""Configuration per environment and the factory."""

import pytest

import config
from app import create_app


def test_production_refuses_to_start_without_secret_key(tmp_path, monkeypatch):
    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app("production", {"SECRET_KEY": None})


def test_production_cookies_are_secure(tmp_path, monkeypatch):
    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path))
    app = create_app("production", {"SECRET_KEY": "x" * 32, "SITE_URL": "https://localhost"})
    for name in ("SESSION_COOKIE", "REMEMBER_COOKIE"):
        assert app.config[f"{name}_SECURE"] and app.config[f"{name}_HTTPONLY"]
        assert app.config[f"{name}_SAMESITE"] == "Lax"
    with app.test_client() as client:
        headers = client.get("/help").headers
        assert "Secure" in headers["Set-Cookie"]
        assert headers["Strict-Transport-Security"].startswith("max-age=")


def test_development_generates_and_keeps_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path))
    first = create_app("development", {"SECRET_KEY": None})
    second = create_app("development", {"SECRET_KEY": None})
    key = first.config["SECRET_KEY"]
    assert len(key) == 64 and key == second.config["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_default_database_is_sqlite_in_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path))
    app = create_app("development", {"SQLALCHEMY_DATABASE_URI": None})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'sheetport.sqlite'}"


def test_database_url_accepts_heroku_style(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/sheetport")
    assert config.database_url() == "postgresql+psycopg://u:p@db/sheetport"


@pytest.mark.parametrize(
    "value, expected", [("1", True), ("yes", True), ("off", False), ("", False)]
)
def test_env_bool(monkeypatch, value, expected):
    monkeypatch.setenv("SOME_FLAG", value)
    assert config.env_bool("SOME_FLAG") is expected


def test_trusted_proxies_read_forwarded_address(tmp_path, monkeypatch):
    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path))
    app = create_app("testing", {"TRUSTED_PROXIES": 1})

    @app.get("/whoami")
    def whoami():
        from flask import request

        return request.remote_addr

    response = app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.text == "203.0.113.9"


def test_the_wsgi_entry_point_moves_what_starting_made_out_of_the_collectors_way(tmp_path):
    """gunicorn's workers import wsgi.py: the app and its modules are frozen (gc.freeze),
    so full collections during requests do not walk them."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "FLASK_CONFIG": "production",
        "SECRET_KEY": "x" * 32,
        "SITE_URL": "https://localhost",
        "SHEETPORT_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'wsgi.sqlite'}",
    }
    script = "import gc, wsgi; print(gc.get_freeze_count(), wsgi.app.name)"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    frozen, name = done.stdout.split()
    assert int(frozen) > 50_000 and name == "app.factory"
