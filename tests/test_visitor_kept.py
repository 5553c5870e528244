"""Nothing a visitor did is lost (issue 26, 6): a visitor's conversions move into the
account when they sign in (or register, confirm and sign in) in the same browser, with an
audit event; another browser's conversions never do."""

import re

from app.models import AuditEvent, Conversion

from .conftest import PASSWORD, fetch
from .forms import submit
from .sheets.books import write_xlsx
from .test_convert import wait_for


def quick_convert(client, tmp_path, name="inventar.xlsx"):
    book = write_xlsx(tmp_path / name, {"Lager": [["item", "count"], ["nails", 40]]})
    response = submit(
        client, "/", files={"file": (book.read_bytes(), name)}, button="Convert right away"
    )
    assert response.status_code == 302
    return response.headers["Location"]


def log_in(client, email="ada@example.com"):
    return submit(
        client, "/auth/login", {"email": email, "password": PASSWORD}, follow_redirects=True
    )


def test_signing_in_keeps_the_visitors_conversions(app, client, user, tmp_path):
    page = quick_convert(client, tmp_path)
    public_id = page.rsplit("/", 1)[1]
    assert wait_for(app, public_id).status == "done"
    welcome = log_in(client).get_data(as_text=True)
    assert "Your conversion from before you signed in is in History now." in welcome
    assert client.get(page).status_code == 200
    assert "inventar.xlsx" in client.get("/history").get_data(as_text=True)
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.user_id == user.id and conversion.session_key is None
    event = fetch(app, AuditEvent, action="visitor_files_moved")
    assert event.actor_id == user.id and "1 conversion" in event.target
    # Signed out again, the file is the account's, not the new visitor session's.
    submit(client, "/profile", action="/auth/logout")
    assert client.get(page).status_code == 404
    log_in(client)
    assert client.get(page).status_code == 200


def test_registering_then_signing_in_keeps_them_too(app, client, tmp_path, outbox):
    page = quick_convert(client, tmp_path)
    fields = {"name": "Grace", "email": "grace@example.com", "password": PASSWORD}
    assert submit(client, "/auth/register", {**fields, "password2": PASSWORD}).status_code == 302
    [confirmation] = [m for m in outbox if m.recipients == ["grace@example.com"]]
    link = re.search(r"http://sheetport\.test(/auth/confirm/\S+)", confirmation.body).group(1)
    log_in(client, "grace@example.com")
    client.get(link)
    assert client.get(page).status_code == 200
    assert "inventar.xlsx" in client.get("/history").get_data(as_text=True)


def test_another_browsers_conversions_stay_its_own(app, client, user, tmp_path):
    stranger = app.test_client()
    page = quick_convert(stranger, tmp_path, "theirs.xlsx")
    log_in(client)
    assert client.get(page).status_code == 404
    assert stranger.get(page).status_code == 200
    assert fetch(app, AuditEvent, action="visitor_files_moved") is None


def test_ending_a_visitors_session_still_deletes_their_files(app, client, tmp_path):
    page = quick_convert(client, tmp_path)
    wait_for(app, page.rsplit("/", 1)[1])
    response = submit(client, "/history/end-session", action="/history/end-session")
    assert response.status_code == 302
    assert fetch(app, Conversion) is None
