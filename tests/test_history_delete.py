"""History's "Delete selected" (issue 26, 8): tick several, confirm on a page that names
them, and they go with their files; one still under way is kept and said so; anyone
else's conversion, a gone one, none ticked, too many and a missing token change nothing."""

from app.models import AuditEvent, Conversion

from .conftest import fetch
from .forms import forms_on, submit
from .test_convert import hold_running, public_id_of, stored_files, upload, wait_for


def converted(app, client, tmp_path, name):
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")
    public_id = public_id_of(upload(client, path, quick=True))
    assert wait_for(app, public_id).status == "done"
    return public_id


def confirm(client, page):
    """Press the confirmation page's button, sending what its form holds."""
    (form,) = [form for form in forms_on(page.get_data(as_text=True)) if "confirmed" in form.names]
    data = {}
    for name, value, _ in form.fields:
        data.setdefault(name, []).append(value)
    return client.post("/history/delete", data=data, csrf=False)


def test_delete_selected_after_confirming(app, client, tmp_path):
    first, second, kept = (converted(app, client, tmp_path, f"{n}.csv") for n in "abc")
    page = submit(client, "/history", {"chosen": [first, second]}, button="Delete selected…")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Delete 2 conversions?" in text and "a.csv" in text and "b.csv" in text
    assert "c.csv" not in text
    assert fetch(app, Conversion, public_id=first) is not None  # nothing yet

    response = confirm(client, page)
    assert response.status_code == 302 and response.headers["Location"] == "/history"
    history = client.get("/history").get_data(as_text=True)
    assert "Deleted 2 conversions and their files." in history
    assert fetch(app, Conversion, public_id=first) is None
    assert fetch(app, Conversion, public_id=second) is None
    assert fetch(app, Conversion, public_id=kept) is not None
    assert len(stored_files(app)) == 2  # c.csv's upload and result
    with app.app_context():
        from app.extensions import db

        assert db.session.query(AuditEvent).filter_by(action="conversion_delete").count() == 2


def test_one_under_way_is_kept_and_said(app, client, tmp_path):
    done, busy = (converted(app, client, tmp_path, f"{n}.csv") for n in "ab")
    hold_running(app, busy)
    # A running one has no box on the page, but a stale page may still send it.
    assert f'value="{busy}"' not in client.get("/history").get_data(as_text=True)
    data = {"chosen": [done, busy], "confirmed": "y"}
    response = client.post("/history/delete", data=data, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "Deleted 1 conversion and its files." in text
    assert "Kept 1 conversion still under way" in text
    assert fetch(app, Conversion, public_id=busy) is not None


def test_someone_elses_and_gone_ones_are_left_out(app, client, tmp_path):
    mine = converted(app, client, tmp_path, "mine.csv")
    other = app.test_client()
    theirs = converted(app, other, tmp_path, "theirs.csv")
    data = {"chosen": [mine, theirs, "no-such-id"], "confirmed": "y"}
    response = client.post("/history/delete", data=data, follow_redirects=True)
    assert "Deleted 1 conversion" in response.get_data(as_text=True)
    assert fetch(app, Conversion, public_id=theirs) is not None
    gone = client.post("/history/delete", data={"chosen": [theirs]})
    assert gone.status_code == 200 and "Nothing to delete" in gone.get_data(as_text=True)


def test_none_ticked_or_too_many_is_refused(app, client, tmp_path):
    mine = converted(app, client, tmp_path, "mine.csv")
    response = client.post("/history/delete", data={"confirmed": "y"}, follow_redirects=True)
    assert "Tick the conversions to delete first." in response.get_data(as_text=True)
    many = {"chosen": [mine] + [f"x{i}" for i in range(100)], "confirmed": "y"}
    response = client.post("/history/delete", data=many, follow_redirects=True)
    assert "Delete at most 100 at a time." in response.get_data(as_text=True)
    assert fetch(app, Conversion, public_id=mine) is not None


def test_without_the_token_nothing_goes(app, client, tmp_path):
    mine = converted(app, client, tmp_path, "mine.csv")
    data = {"chosen": [mine], "confirmed": "y"}
    assert client.post("/history/delete", data=data, csrf=False).status_code == 400
    assert fetch(app, Conversion, public_id=mine) is not None


def test_a_signed_in_users_history_too(app, client, auth, user, tmp_path):
    auth.login()
    mine = converted(app, client, tmp_path, "mine.csv")
    page = submit(client, "/history", {"chosen": [mine]}, button="Delete selected…")
    assert "Delete 1 conversion?" in page.get_data(as_text=True)
    assert confirm(client, page).status_code == 302
    assert fetch(app, Conversion, public_id=mine) is None
    event = fetch(app, AuditEvent, action="conversion_delete")
    assert event.actor_email == "ada@example.com"
