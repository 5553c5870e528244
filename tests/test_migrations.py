"""The committed migrations build exactly the schema the models describe."""

from datetime import datetime

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
    import sqlalchemy as sa
    from flask_migrate import downgrade

    app = build_app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'moved.sqlite'}")
    preview = {"sheet": "Data", "rows": [["a", "b"], ["1", "2"]], "total_rows": 9}
    info = {"sheets": [{"name": "Data"}], "previews": {"Data": {**preview, "key": "k"}}}
    texts = ("original_name", "stored_name", "detected_format", "status")
    numbers = ("size", "progress_done", "progress_total")
    conversions = sa.table(
        "conversions",
        *(sa.column(name) for name in ("public_id", *texts, *numbers, "notify")),
        *(sa.column(name, sa.JSON) for name in ("info", "options", "warnings")),
        *(sa.column(name, sa.DateTime) for name in ("created_at", "expires_at")),
    )
    when = datetime(2026, 1, 1)
    with app.app_context():
        upgrade(revision="b7d4e2a9c1f0")
        with db.engine.begin() as connection:
            for public_id, kept in (("with", info), ("without", {"sheets": []})):
                connection.execute(
                    conversions.insert().values(
                        **dict.fromkeys(texts, "x"),
                        **dict.fromkeys(numbers, 0),
                        public_id=public_id,
                        notify=False,
                        info=kept,
                        options={},
                        warnings=[],
                        created_at=when,
                        expires_at=when,
                    )
                )
        upgrade()
        moved = sa.table(
            "conversions",
            sa.column("public_id"),
            *(sa.column(name, sa.JSON) for name in ("info", "preview_rows")),
        )
        with db.engine.connect() as connection:
            upgraded = {row[0]: tuple(row[1:]) for row in connection.execute(sa.select(moved))}
        downgrade(revision="b7d4e2a9c1f0")
        with db.engine.connect() as connection:
            downgraded = dict(
                connection.execute(sa.select(conversions.c.public_id, conversions.c.info)).all()
            )
        db.engine.dispose()
    summary = {"sheet": "Data", "total_rows": 9, "key": "k", "row_count": 2}
    assert upgraded["with"] == (
        {"sheets": [{"name": "Data"}], "previews": {"Data": summary}},
        {"Data": [["a", "b"], ["1", "2"]]},
    )
    assert upgraded["without"] == ({"sheets": []}, None)
    assert downgraded == {"with": info, "without": {"sheets": []}}
