"""The committed migrations build exactly the schema the models describe."""

import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from app.extensions import db

from .conftest import build_app


def test_migrations_match_models(tmp_path):
    app = build_app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'migrated.sqlite'}")
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, db.metadata) == []
        db.engine.dispose()


def test_previews_rows_move_to_their_own_column_and_back(tmp_path):
    """c4e8a1f7d2b6 moves each kept preview's rows out of `info` (into preview_rows) and
    its downgrade moves them back."""
    from flask_migrate import downgrade

    app = build_app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'moved.sqlite'}")
    preview = {"sheet": "Data", "rows": [["a", "b"], ["1", "2"]], "total_rows": 9}
    info = {"sheets": [{"name": "Data"}], "previews": {"Data": {**preview, "key": "k"}}}
    columns = "public_id, original_name, stored_name, detected_format, size, info, options"
    columns += ", status, progress_done, progress_total, warnings, notify, created_at, expires_at"
    with app.app_context():
        upgrade(revision="b7d4e2a9c1f0")
        with db.engine.begin() as connection:
            for public_id, kept in (("with", info), ("without", {"sheets": []})):
                connection.exec_driver_sql(
                    f"INSERT INTO conversions ({columns}) VALUES (?, 'a.xlsx', 's', 'xlsx', 1, ?,"
                    " '{}', 'uploaded', 0, 0, '[]', 0, '2026-01-01', '2026-01-02')",
                    (public_id, json.dumps(kept)),
                )
        upgrade()
        with db.engine.connect() as connection:
            upgraded = {
                row[0]: (json.loads(row[1]), row[2] and json.loads(row[2]))
                for row in connection.exec_driver_sql(
                    "SELECT public_id, info, preview_rows FROM conversions"
                )
            }
        downgrade(revision="b7d4e2a9c1f0")
        with db.engine.connect() as connection:
            downgraded = {
                row[0]: json.loads(row[1])
                for row in connection.exec_driver_sql("SELECT public_id, info FROM conversions")
            }
        db.engine.dispose()
    summary = {"sheet": "Data", "total_rows": 9, "key": "k", "row_count": 2}
    assert upgraded["with"] == (
        {"sheets": [{"name": "Data"}], "previews": {"Data": summary}},
        {"Data": [["a", "b"], ["1", "2"]]},
    )
    assert upgraded["without"] == ({"sheets": []}, None)
    assert downgraded == {"with": info, "without": {"sheets": []}}
