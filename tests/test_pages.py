"""What pages cost: a wide sheet's page stays small, and lists render without per-row work."""

import csv
import io
import json
import re
import secrets
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask, url_for
from sqlalchemy import event
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app import settings
from app.extensions import db
from app.models import Conversion, Setting, User, utcnow
from app.sheets.convert import PREVIEW_CELL_CHARS, PREVIEW_COLUMNS
from app.templating import StaticVersions, table_cells, url_maker, when

from .api_helpers import Api, make_token
from .conftest import fetch
from .sheets.books import write_xlsx
from .test_convert import FORM, hold_running, public_id_of, upload, wait_for

WIDTH = 2000
LONG = "x" * 5000  # one long cell, cut short in the preview


def wide_rows():
    rows = [[f"column {c}" for c in range(WIDTH)]]
    rows += [[f"value {r}-{c}" for c in range(WIDTH)] for r in range(120)]
    rows[1][0] = LONG
    return rows


@pytest.fixture(scope="module")
def wide_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wide")
    rows = wide_rows()
    xlsx = write_xlsx(folder / "wide.xlsx", {"Data": rows})
    text = folder / "wide.csv"
    with open(text, "w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)
    return {"xlsx": xlsx, "csv": text}


def upload_big(client, url, path, **kwargs):
    """A multipart POST encoded here: the test client would spool a body over 500 KB to a
    temporary file that it never closes (a ResourceWarning, an error in this suite)."""
    file = FileStorage(io.BytesIO(path.read_bytes()), path.name)
    boundary, body = encode_multipart({"file": file})
    content_type = f"multipart/form-data; boundary={boundary}"
    return client.post(url, data=body, content_type=content_type, **kwargs)


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_a_2000_column_upload_has_a_small_page_and_converts_every_column(
    app, client, wide_files, kind, tmp_path
):
    public_id = public_id_of(upload_big(client, "/convert", wide_files[kind]))
    page = client.get(f"/convert/{public_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and len(page.data) < 300_000, len(page.data)
    assert f"Showing {PREVIEW_COLUMNS} of 2,000 columns; all are converted." in html
    assert "Long cells are cut short here" in html
    assert f"column {PREVIEW_COLUMNS - 1}<" in html and f"column {PREVIEW_COLUMNS}<" not in html
    assert "x" * (PREVIEW_CELL_CHARS - 1) + "…" in html and "x" * PREVIEW_CELL_CHARS not in html
    # The preview kept with the upload is bounded too (the page and the API read it), and
    # its rows are apart from the file's details, which every view of the page reads.
    with app.app_context():
        info, rows = db.session.execute(
            db.select(Conversion.info, Conversion.preview_rows).filter_by(public_id=public_id)
        ).one()
    kept = next(iter(info["previews"].values()))
    assert {len(row) for row in rows[kept["sheet"]]} == {PREVIEW_COLUMNS}
    assert kept["total_columns"] == WIDTH and kept["cut_cells"] is True
    assert kept["row_count"] == 100 and len(json.dumps(info)) < 2_000
    data = {**FORM, "sheets": [next(iter(info["previews"]))], "line_ending": "lf"}
    assert client.post(f"/convert/{public_id}", data=data).status_code == 302
    assert wait_for(app, public_id).status == "done"
    result = client.get(f"/convert/{public_id}/download")
    rows = list(csv.reader(result.get_data(as_text=True).splitlines()))
    result.close()
    assert len(rows) == 121 and {len(row) for row in rows} == {WIDTH}
    assert rows[1][0] == LONG and rows[120][WIDTH - 1] == f"value 119-{WIDTH - 1}"


def test_a_narrow_sheet_says_nothing_about_columns(app, client, tmp_path):
    book = write_xlsx(tmp_path / "narrow.xlsx", {"Data": [["a", "b"], [1, 2]]})
    html = client.get(f"/convert/{public_id_of(upload(client, book))}").get_data(as_text=True)
    assert "2 rows." in html and "columns; all are converted" not in html
    assert "cut short" not in html


def test_the_api_preview_of_a_wide_sheet_is_bounded(app, client, user, wide_files):
    api = Api(client, make_token(app))
    response = upload_big(
        client, "/api/v1/conversions?start=false", wide_files["xlsx"], headers=api.headers
    )
    body = response.json
    shown = api.get(f"/api/v1/conversions/{body['id']}/preview?rows=100").json
    assert shown["total_columns"] == WIDTH and shown["shown_columns"] == PREVIEW_COLUMNS
    assert shown["cut_cells"] is True and len(shown["rows"][1][0]) == PREVIEW_CELL_CHARS
    assert {len(row) for row in shown["rows"]} == {PREVIEW_COLUMNS}
    assert fetch(app, Conversion, public_id=body["id"]).status == "uploaded"


# --- what a request costs: queries and per-row work ---------------------------------------


@contextmanager
def statements(app):
    """The SQL statements the app runs inside the block, as one-line strings."""
    seen = []

    def record(connection, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def add_conversions(app, email, count):
    with app.app_context():
        owner = db.session.scalar(db.select(User).filter_by(email=email))
        for number in range(count):
            db.session.add(
                Conversion(
                    user_id=owner.id,
                    original_name=f"report {number}.xlsx",
                    stored_name=secrets.token_hex(16),
                    detected_format="xlsx",
                    size=1234,
                    info={"sheets": [], "previews": {"Data": {"row_count": 100}}},
                    preview_rows={"Data": [["x"] * 50] * 100},
                    output_format="csv",
                    status="done",
                    result_name=f"report {number}.csv",
                    result_size=567,
                    expires_at=utcnow() + timedelta(hours=1),
                )
            )
        db.session.commit()


def test_history_makes_the_same_queries_for_2_rows_as_for_20(app, client, auth, user):
    add_conversions(app, user.email, 2)
    auth.login()
    client.get("/history")  # the first page after login records the visit
    with statements(app) as few:
        client.get("/history")
    add_conversions(app, user.email, 25)
    with statements(app) as many:
        page = client.get("/history").get_data(as_text=True)
    assert len(many) == len(few) <= 3, many  # user, rows with their count, settings
    assert not [s for s in many if "FROM roles" in s]  # the role comes with the user
    rows = [s for s in many if s.startswith("SELECT conversions.")]
    assert len(rows) == 1 and not re.search(r"conversions\.(info|options|warnings)\b", rows[0])
    # One plain <time> per timestamp, which Flask-Moment's script formats in the browser.
    assert page.count('<time class="flask-moment"') == 40
    assert page.count('data-function="fromNow" data-refresh="60000"') == 40
    with app.app_context():
        newest = db.session.scalars(
            db.select(Conversion.public_id).order_by(Conversion.id.desc())
        ).first()
    for link in (f"/convert/{newest}", f"/convert/{newest}/download", f"/convert/{newest}/delete"):
        assert f'href="{link}"' in page


def test_a_page_of_rows_counts_them_all_in_the_same_query(app, user):
    """Each row carries the count of all (a window): a page past the last, having no rows,
    counts them apart."""
    from app.history import history_page

    add_conversions(app, user.email, 27)
    with app.app_context():
        owner = db.session.get(User, user.id)
        for page, shown, queries in ((1, 20, 1), (2, 7, 1), (3, 0, 2)):
            with statements(app) as seen:
                rows = history_page(owner, page, per_page=20)
            assert (len(rows.items), rows.total, rows.pages) == (shown, 27, 2)
            assert len(seen) == queries, seen


def test_the_status_poll_reads_a_few_columns_in_one_query(app, client, tmp_path):
    book = write_xlsx(tmp_path / "book.xlsx", {"Data": [["a"], [1]]})
    public_id = public_id_of(upload(client, book))
    with statements(app) as seen:
        answer = client.get(f"/convert/{public_id}/status")
    assert answer.json == {
        "status": "uploaded",
        "percent": 0,
        "done": 0,
        "total": 0,
        "error": None,
        "download_url": None,
    }
    assert len(seen) == 1 and "FROM conversions" in seen[0], seen  # nothing else, no settings
    assert not re.search(r"conversions\.(info|options|warnings|original_name)\b", seen[0])
    # Someone else's is 404, an expired one 410, as for the file's page.
    assert app.test_client().get(f"/convert/{public_id}/status").status_code == 404
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert client.get(f"/convert/{public_id}/status").status_code == 410


def test_a_signed_in_poll_loads_the_user_and_the_row_only(app, client, auth, user, tmp_path):
    auth.login()
    book = write_xlsx(tmp_path / "book.xlsx", {"Data": [["a"], [1]]})
    public_id = public_id_of(upload(client, book))
    client.get(f"/convert/{public_id}/status")
    with statements(app) as seen:
        assert client.get(f"/convert/{public_id}/status").json["status"] == "uploaded"
    assert len(seen) == 2 and "FROM login_sessions JOIN users" in seen[0], seen


@pytest.mark.parametrize("app_settings", [{"SETTINGS_CACHE_SECONDS": 60}])
def test_settings_are_kept_a_while_and_a_save_shows_at_once(app, client, app_settings):
    client.get("/auth/login")
    with statements(app) as seen:
        assert client.get("/auth/login").status_code == 200
    assert seen == []  # the settings were kept: a signed-out page makes no query
    with app.app_context():  # another process changes a setting: this one sees it later
        db.session.add(Setting(key="site_notice", value={"value": "Back at noon"}))
        db.session.commit()
    assert "Back at noon" not in client.get("/").get_data(as_text=True)
    with app.test_request_context():  # the settings form reads the database itself
        assert settings.current(fresh=True)["site_notice"] == "Back at noon"
    app.extensions["sheetport_settings"]["read_at"] -= 61
    assert "Back at noon" in client.get("/").get_data(as_text=True)
    with app.test_request_context():  # a save in this process shows at once
        settings.save({"site_notice": "Open again"})
        db.session.commit()
    assert "Open again" in client.get("/").get_data(as_text=True)


def test_the_admin_settings_form_shows_the_stored_values(app, client, auth, admin):
    auth.login(email=admin.email)
    client.get("/admin/settings")
    with app.app_context():
        db.session.add(Setting(key="site_notice", value={"value": "Stored elsewhere"}))
        db.session.commit()
    assert "Stored elsewhere" in client.get("/admin/settings").get_data(as_text=True)


def test_when_writes_flask_moments_markup_in_one_element(app):
    from flask_moment import moment

    stamp = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    with app.test_request_context():
        relative, fixed = str(when(stamp, relative=True)), str(when(stamp, "LL"))
        theirs = str(moment(stamp.replace(tzinfo=None)).fromNow(refresh=True))
        theirs_fixed = str(moment(stamp.replace(tzinfo=None)).format("LL"))
    for ours, flask_moment in ((relative, theirs), (fixed, theirs_fixed)):
        data = dict(re.findall(r'(data-[a-z]+)="([^"]*)"', ours))
        assert data == dict(re.findall(r'(data-[a-z]+)="([^"]*)"', flask_moment)), ours
        assert 'class="flask-moment"' in ours and ">2026-03-04 05:06 UTC</time>" in ours
        assert 'datetime="2026-03-04T05:06:07Z"' in ours
    assert when(None) == "never"
    later = datetime(2026, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    assert 'datetime="2026-03-04T05:06:07Z"' in str(when(later))


def test_url_maker_gives_url_fors_addresses(app):
    with app.test_request_context():
        show = url_maker("convert.show", "public_id")
        for value in ("abc-_09", "a b/c?d", "ü"):
            assert show(value) == url_for("convert.show", public_id=value)
        assert url_maker("convert.history", "page")(3) == url_for("convert.history", page=3)
        delete = url_maker("admin.delete_conversion", "conversion_id")  # an <int:...> part
        for value in (7, 1987654321, 2**31 - 1):
            assert delete(value) == url_for("admin.delete_conversion", conversion_id=value)


def test_url_maker_is_right_where_its_marker_is_in_the_address_already(app):
    with app.test_request_context(base_url="http://localhost/1987654321/"):
        delete = url_maker("admin.delete_conversion", "conversion_id")
        assert delete(5) == "/1987654321/admin/conversions/5/delete"


def test_static_versions_are_read_once_outside_debug_mode(tmp_path):
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "a.css").write_text("one")
    for debug, changes in ((False, False), (True, True)):
        site = Flask("site", static_folder=str(folder))
        site.debug = debug
        StaticVersions(site)
        with site.test_request_context():
            first = url_for("static", filename="a.css")
            (folder / "a.css").write_text("two" if debug else "three")
            assert (url_for("static", filename="a.css") != first) is changes


@pytest.mark.parametrize(
    "row", [[], ["a"], ["<b>&\"'", "x\x00y", ""], ["é", "1", "<script>"], ["a", "", ""]]
)
def test_table_cells_escape_as_a_template_loop_would(app, row):
    loop = app.jinja_env.from_string("{% for c in row %}<td>{{ c }}</td>{% endfor %}")
    assert str(table_cells(row)) == loop.render(row=row)


def test_the_status_poll_fails_a_job_whose_lease_lapsed(app, client, tmp_path):
    book = write_xlsx(tmp_path / "book.xlsx", {"Data": [["a"], [1]]})
    public_id = public_id_of(upload(client, book))
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        conversion.status, conversion.runner = "running", "0" * 32  # its runner is gone
        conversion.lease_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    answer = client.get(f"/convert/{public_id}/status").json
    assert answer["status"] == "failed" and "the server running it stopped" in answer["error"]


# --- the preview table's HTML, kept per process under the preview's key ---------------------

OLD_PREVIEW_LOOP = """
{%- set shown_columns = preview.shown_columns or preview.total_columns or (preview.rows[0]|length if preview.rows else 0) -%}
<thead><tr><th scope="col"><span class="visually-hidden">Row</span></th>
  {% for letter in column_letters(shown_columns) %}<th scope="col">{{ letter }}</th>{% endfor %}
</tr></thead>
<tbody>
{% for row in preview.rows %}
  <tr><th scope="row">{{ loop.index }}</th>{{ row|table_cells }}</tr>
{% endfor %}
</tbody>
"""


def kept_preview(rows, total_columns=0, shown_columns=0, key=None):
    """What conversions.sheet_preview() gives a page, its rows at hand."""
    return SimpleNamespace(
        rows=rows,
        row_count=len(rows),
        total_columns=total_columns,
        shown_columns=shown_columns,
        key=key,
    )


@pytest.mark.parametrize(
    "preview",
    [
        kept_preview([["a", "<b>", 'say "hi"'], ["1", "2", "3"]], total_columns=3),
        kept_preview([["x"] * 30] * 3, total_columns=2000, shown_columns=30),
        kept_preview([], total_columns=0),
        kept_preview([["only"]]),
    ],
)
def test_the_preview_table_is_what_the_template_loop_wrote(app, preview):
    from app.templating import column_letters, preview_table

    old = app.jinja_env.from_string(OLD_PREVIEW_LOOP).render(
        preview=preview, column_letters=column_letters
    )

    def tidy(html):
        return re.sub(r">\s+<", "><", str(html)).strip()

    assert tidy(preview_table(preview)) == tidy(old)


def test_a_preview_table_is_kept_and_a_new_reading_of_the_file_shows_new_cells(
    app, client, tmp_path
):
    from app.templating import FRAGMENTS

    from .test_convert import LEGACY

    source = tmp_path / "clients.csv"
    source.write_bytes(LEGACY.encode("cp1252"))
    public_id = public_id_of(upload(client, source))
    first = client.get(f"/convert/{public_id}").get_data(as_text=True)
    key = fetch(app, Conversion, public_id=public_id).info["previews"]["clients"]["key"]
    assert "Besançon" in first and "Besançon" in FRAGMENTS["preview", key]
    second = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert table_of(second) == table_of(first) and str(FRAGMENTS["preview", key]) in second
    # Read again in another encoding (by any process): a new preview, under a new key.
    client.post(f"/convert/{public_id}/read-as", data={"read-input_encoding": "cp775"})
    again = client.get(f"/convert/{public_id}").get_data(as_text=True)
    new_key = fetch(app, Conversion, public_id=public_id).info["previews"]["clients"]["key"]
    assert new_key != key and "Besanńon" in again and "Besançon" not in again
    # Deleted: nothing of it is shown again, whatever this process keeps.
    client.post(f"/convert/{public_id}/delete")
    assert client.get(f"/convert/{public_id}").status_code == 404


def test_a_kept_preview_table_does_not_read_the_rows(app, client, tmp_path):
    """The preview's cells (megabytes for a wide sheet) are read only to draw its table."""
    from app.templating import FRAGMENTS

    source = tmp_path / "towns.csv"
    source.write_text("name,town\nAda,Lyon\n", encoding="utf-8")
    public_id = public_id_of(upload(client, source))
    first = client.get(f"/convert/{public_id}").get_data(as_text=True)
    with statements(app) as seen:
        again = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert table_of(again) == table_of(first) and "<td>Lyon</td>" in again
    assert seen and not [sql for sql in seen if "preview_rows" in sql], seen
    FRAGMENTS.clear()  # another process, or the table pushed out: drawn from the rows
    with statements(app) as seen:
        drawn = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert table_of(drawn) == table_of(first)
    assert len([sql for sql in seen if "preview_rows" in sql]) == 1, seen


def test_a_preview_kept_in_the_old_shape_is_read_again(app, client, tmp_path):
    """One written by the version before (its rows in `info`), e.g. during a deploy."""
    source = tmp_path / "towns.csv"
    source.write_text("name,town\nAda,Lyon\n", encoding="utf-8")
    public_id = public_id_of(upload(client, source))
    with app.app_context():
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=public_id))
        old = {"sheet": "towns", "rows": [["old"]], "total_rows": 1, "total_columns": 1}
        conversion.info = {**conversion.info, "previews": {"towns": {**old, "key": "k"}}}
        conversion.preview_rows = {}
        db.session.commit()
    page = client.get(f"/convert/{public_id}")
    assert page.status_code == 200 and "<td>Lyon</td>" in page.get_data(as_text=True)
    api = client.get(f"/api/v1/conversions/{public_id}/preview")
    assert api.status_code in (200, 401) and b"old" not in api.data


def table_of(page):
    return re.search(r"<table .*</table>", page, re.S).group(0)


def test_a_preview_without_a_key_is_written_each_time(app, client, auth, user, tmp_path):
    """Rows written before previews had keys (or by other code) are never kept."""
    from app.templating import FRAGMENTS

    source = tmp_path / "plain.csv"
    source.write_text("name,town\nAda,London\n", encoding="utf-8")
    public_id = public_id_of(upload(client, source))
    with app.app_context():
        conversion = db.session.scalar(
            db.select(Conversion).where(Conversion.public_id == public_id)
        )
        preview = dict(conversion.info["previews"]["plain"])
        del preview["key"]
        conversion.info = {**conversion.info, "previews": {"plain": preview}}
        conversion.preview_rows = {"plain": [["name", "town"], ["Ada", "Paris"]]}
        db.session.commit()
    FRAGMENTS.clear()
    assert "<td>Paris</td>" in client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert not [key for key in FRAGMENTS if key[0] == "preview"]


def test_kept_preview_tables_stay_within_their_bound(monkeypatch):
    from cachetools import LRUCache

    from app import templating

    monkeypatch.setattr(templating, "FRAGMENTS", LRUCache(maxsize=5_000, getsizeof=len))
    for number in range(50):
        preview = kept_preview([[f"cell {number}"] * 10] * 10, key=f"k{number}")
        assert f"cell {number}" in templating.cached_preview_table(preview)
    assert templating.FRAGMENTS.currsize <= 5_000
    assert ("preview", "k49") in templating.FRAGMENTS
    assert ("preview", "k0") not in templating.FRAGMENTS
    # A table larger than the whole bound is written, not kept.
    huge = kept_preview([["y" * 100] * 50] * 5, key="huge")
    assert "y" * 100 in templating.cached_preview_table(huge)
    assert ("preview", "huge") not in templating.FRAGMENTS


def options_of(page):
    return re.search(r'<section id="options".*?</section>', page, re.S).group(0)


def options_form_of(page):
    """The whole options form, its CSRF token (one per session) left out."""
    form = re.search(r'<form method="post" novalidate id="options-form".*?</form>', page, re.S)
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", form.group(0))


def test_kept_options_are_what_a_fresh_page_shows(app, client, auth, user, tmp_path):
    """The options form's blocks are kept by what they show (and the form is then not even
    built): every page, with the kept blocks of all the other pages around, shows what it
    shows when nothing is kept."""
    from app.templating import FRAGMENTS

    from .test_convert import LEGACY

    book = write_xlsx(
        tmp_path / "book.xlsx",
        {"Q1": [["a", "b"], [1, 2]], "Q2": [["c"], [3]], "Old": [["d"], [4]]},
        hidden=("Old",),
    )
    plain = write_xlsx(tmp_path / "plain.xlsx", {"Only": [["x", "y"], [1, 2]]})
    text = tmp_path / "clients.csv"
    text.write_bytes(LEGACY.encode("cp1252"))
    # The same sheet names, but none hidden; the same one sheet, but a text file.
    shown_all = write_xlsx(
        tmp_path / "all.xlsx", {"Q1": [["a", "b"], [1, 2]], "Q2": [["c"], [3]], "Old": [["d"]]}
    )
    short_text = tmp_path / "Only.csv"
    short_text.write_text("x,y\nab,cd\n", encoding="utf-8")  # nothing to detect
    files = (book, plain, text, shown_all, short_text)
    visitor = app.test_client()
    anonymous = [public_id_of(upload(visitor, path)) for path in files]
    auth.login()
    mine = [public_id_of(upload(client, path)) for path in files]

    def shown(who, url):
        response = who.get(url)
        assert response.status_code == 200, url
        return options_form_of(response.get_data(as_text=True))

    def check(pages):
        fresh = []
        for who, url in pages:
            FRAGMENTS.clear()
            fresh.append(shown(who, url))
        for order in (pages, pages[::-1]):
            FRAGMENTS.clear()
            for who, url in order:
                assert shown(who, url) == fresh[pages.index((who, url))], url
        return fresh

    pages = []
    for number, public_id in enumerate(mine):
        pages += [(client, f"/convert/{public_id}"), (client, f"/convert/{public_id}?sheet=Q2")]
        pages += [(visitor, f"/convert/{anonymous[number]}")]
    assert len(set(check(pages))) >= 6  # the pages differ, so the test can tell them apart
    # Another output format and other options, remembered for this visitor's next pages.
    data = {**FORM, "output_format": "json", "sheets": ["Only"], "delimiter": ";"}
    client.post(f"/convert/{mine[1]}", data=data)
    wait_for(app, mine[1])
    check(pages)
    hold_running(app, mine[0])  # its convert bar says to wait, and its button is disabled
    busy = check(pages)[0]
    assert "Wait for this conversion to finish, or cancel it." in busy and "disabled" in busy
    assert {key[0] for key in FRAGMENTS} >= {"options", "convert-bar"}


def test_a_page_shown_again_does_not_build_its_options_form(app, client, tmp_path, monkeypatch):
    from app.convert import forms, views
    from app.templating import FRAGMENTS

    built = []

    class Counted(forms.OptionsForm):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(views, "OptionsForm", Counted)
    book = write_xlsx(tmp_path / "book.xlsx", {"Q1": [["a"], [1]], "Q2": [["b"], [2]]})
    public_id = public_id_of(upload(client, book))
    first = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert len(built) == 1
    again = client.get(f"/convert/{public_id}").get_data(as_text=True)
    assert len(built) == 1 and options_form_of(again) == options_form_of(first)
    FRAGMENTS.clear()
    assert options_form_of(client.get(f"/convert/{public_id}").get_data(True)) == (
        options_form_of(first)
    )
    assert len(built) == 2


def test_options_with_errors_are_written_each_time_and_keep_the_values_sent(app, client, tmp_path):
    from app.templating import FRAGMENTS

    book = write_xlsx(tmp_path / "book.xlsx", {"Q1": [["a"], [1]], "Q2": [["b"], [2]]})
    public_id = public_id_of(upload(client, book))
    client.get(f"/convert/{public_id}")  # the good form's block is kept
    FRAGMENTS_BEFORE = set(FRAGMENTS)
    data = {**FORM, "sheets": ["Q2"], "skip_rows": "-1", "delimiter": "|"}
    response = client.post(f"/convert/{public_id}", data=data)
    assert response.status_code == 400
    page = options_of(response.get_data(as_text=True))
    assert 'value="-1"' in page and 'aria-invalid="true"' in page
    assert '<option selected value="|">' in page and "Enter a number from 0" in page
    assert 'value="Q2"\n' in page or 'value="Q2" checked' in page.replace("\n", " ").replace(
        "  ", " "
    )
    assert set(FRAGMENTS) == FRAGMENTS_BEFORE
    # The next good page is the kept one again, not the one with errors.
    assert "aria-invalid" not in options_of(client.get(f"/convert/{public_id}").get_data(True))


def test_a_form_sent_to_the_page_is_never_kept(app, client, tmp_path):
    """A valid POST can come back as a page (a 409 while a conversion runs); what it sent
    is anyone's text (a checkbox takes any value), so it must not take a place in the cache."""
    from app.templating import FRAGMENTS

    book = write_xlsx(tmp_path / "book.xlsx", {"Q1": [["a"], [1]], "Q2": [["b"], [2]]})
    public_id = public_id_of(upload(client, book))
    hold_running(app, public_id)
    client.get(f"/convert/{public_id}")
    before = set(FRAGMENTS)
    for number in range(3):
        data = {**FORM, "sheets": ["Q2"], "header": "y" * (1000 + number)}
        assert client.post(f"/convert/{public_id}", data=data).status_code == 409
    assert set(FRAGMENTS) == before


def test_the_admin_conversions_list_makes_the_same_queries_for_2_rows_as_for_25(
    app, client, auth, admin, make_user
):
    owner = make_user(email="owner@example.com")
    add_conversions(app, owner.email, 2)
    auth.login(email=admin.email)
    client.get("/admin/conversions")  # the first page after login records the visit
    with statements(app) as few:
        client.get("/admin/conversions")
    add_conversions(app, owner.email, 25)
    with statements(app) as many:
        page = client.get("/admin/conversions").get_data(as_text=True)
    assert len(many) == len(few), many  # each row's owner comes with it
    rows = [s for s in many if s.startswith("SELECT conversions.")]
    assert len(rows) == 1 and not re.search(r"conversions\.(info|warnings)\b", rows[0])
    assert page.count("owner@example.com") == 25


def test_the_admin_dashboard_counts_in_one_query(app, client, auth, admin, make_user):
    from app.models import Message

    make_user(email="new@example.com", confirmed=False)
    owner = make_user(email="owner@example.com")
    add_conversions(app, owner.email, 3)  # done, today
    with app.app_context():
        rows = db.session.scalars(db.select(Conversion).order_by(Conversion.id)).all()
        rows[0].status, rows[1].status = "failed", "queued"
        rows[2].created_at = utcnow() - timedelta(days=3)  # this week, not today
        db.session.add(Message(name="L", email="l@example.com", subject="Hi", body="Hello"))
        db.session.add(
            Message(name="M", email="m@example.com", subject="Hi", body="Hello", read=True)
        )
        db.session.commit()
    auth.login(email=admin.email)
    client.get("/admin/")  # the first page after login records the visit
    with statements(app) as seen:
        page = client.get("/admin/").get_data(as_text=True)
    figures = re.findall(r'data-testid="figure">([^<]*)<', page)
    labels = ["Users", "Confirmed", "New this week", "Conversions today", "This week"]
    labels += ["Failed", "Running", "Queued", "Storage used", "Unread messages"]
    shown = dict(zip(labels, figures, strict=True))
    assert shown["Users"] == "3" and shown["Confirmed"] == "2" and shown["New this week"] == "3"
    assert shown["Conversions today"] == "2" and shown["This week"] == "3"
    assert (shown["Failed"], shown["Running"], shown["Queued"]) == ("1", "0", "1")
    assert shown["Unread messages"] == "1"
    counting = [s for s in seen if "count(" in s and "GROUP BY" not in s]
    assert len(counting) == 1, counting  # users, conversions and messages side by side
    assert len(seen) - len(counting) <= 4, seen  # the two lists, who keeps the most, the login


def test_the_dashboard_measures_storage_at_most_once_a_minute(app, client, auth, admin):
    """Measuring lists every stored file (a bucket: over the network); a busy dashboard
    does it once a minute, not on each view."""
    from app.reports import STORAGE_USED

    folder = Path(app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ("a" * 32)).write_bytes(b"x" * 3_000_000)
    auth.login(email=admin.email)

    def storage_figure():
        page = client.get("/admin/").get_data(as_text=True)
        return re.findall(r'data-testid="figure">([^<]*)<', page)[8]

    first = storage_figure()
    (folder / ("b" * 32)).write_bytes(b"x" * 3_000_000)
    assert storage_figure() == first  # measured a moment ago
    STORAGE_USED.clear()  # as a minute passing does
    assert storage_figure() != first
