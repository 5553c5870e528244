"""The flows that matter, through the pages' own forms with CSRF on (issue 28, 5): each test
loads the page, fills the form it renders and presses its button, as a browser does
(tests/forms.py). A renamed field, a token not rendered or a missing button fails here,
not only in the browser tests."""

import re

import pytest

from app.models import Conversion, Message, User

from .conftest import PASSWORD, fetch
from .forms import forms_on, submit
from .sheets.books import write_xlsx
from .test_convert import wait_for


def log_in(client, email="ada@example.com", password=PASSWORD):
    return submit(client, "/auth/login", {"email": email, "password": password})


def test_csrf_is_on_and_a_dict_without_the_token_is_refused(client, user):
    data = {"email": "ada@example.com", "password": PASSWORD}
    response = client.post("/auth/login", data=data, csrf=False)
    assert response.status_code == 400 and b"The form expired" in response.data


def test_login_and_logout(client, user):
    response = log_in(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/profile").status_code == 200
    assert submit(client, "/profile", action="/auth/logout").status_code == 302
    assert client.get("/profile").status_code == 302


def test_register(app, client, outbox):
    fields = {"name": "Grace", "email": "grace@example.com", "password": PASSWORD}
    response = submit(client, "/auth/register", {**fields, "password2": PASSWORD})
    assert response.status_code == 302
    assert fetch(app, User, email="grace@example.com") is not None
    assert outbox and outbox[0].recipients == ["grace@example.com"]


def test_password_reset(app, client, user, outbox):
    assert submit(client, "/auth/reset", {"email": "ada@example.com"}).status_code == 302
    link = re.search(r"http://sheetport\.test(/auth/reset/\S+)", outbox[-1].body).group(1)
    new = "another good password"
    response = submit(client, link, {"password": new, "password2": new})
    assert response.status_code == 302
    assert log_in(client, password=new).headers["Location"] == "/"


def test_contact(app, client):
    fields = {
        "name": "Eve",
        "email": "eve@example.com",
        "subject": "Hi",
        "message": "Hello, a question.",
    }
    assert submit(client, "/contact", fields).status_code == 302
    assert fetch(app, Message, subject="Hi") is not None


def test_upload_and_convert(app, client, tmp_path):
    book = write_xlsx(tmp_path / "sales.xlsx", {"Orders": [["id", "total"], [1, 9.5]]})
    response = submit(
        client,
        "/convert",
        files={"file": (book.read_bytes(), "sales.xlsx")},
        button="Upload and preview",
    )
    assert response.status_code == 302
    page = response.headers["Location"]
    public_id = page.rsplit("/", 1)[1]
    response = submit(client, page, {"output_format": "tsv"}, form_id="options-form")
    assert response.status_code == 302
    conversion = wait_for(app, public_id)
    assert conversion.status == "done" and conversion.result_name == "sales.tsv"
    with client.get(f"/convert/{public_id}/download") as download:
        assert download.data.startswith(b"id\ttotal")


def test_the_home_pages_quick_convert(app, client, tmp_path):
    book = write_xlsx(tmp_path / "q.xlsx", {"S": [["a"], [1]]})
    response = submit(
        client, "/", files={"file": (book.read_bytes(), "q.xlsx")}, button="Convert right away"
    )
    assert response.status_code == 302
    conversion = wait_for(app, response.headers["Location"].rsplit("/", 1)[1])
    assert conversion.status == "done" and conversion.result_name == "q.csv"


def test_admin_settings_and_user_edit(app, client, admin, user):
    log_in(client, "root@example.com")
    response = submit(client, "/admin/settings", {"retention_hours": "12"})
    assert response.status_code == 302
    assert b"Settings saved." in client.get("/admin/settings").data
    response = submit(client, f"/admin/users/{user.id}", {"active": False})
    assert response.status_code == 302
    assert fetch(app, User, id=user.id).active is False


def test_the_helper_refuses_a_field_the_form_lacks(client):
    with pytest.raises(AssertionError, match="has no field"):
        submit(client, "/contact", {"nmae": "Eve"})


def test_every_post_form_on_these_pages_carries_a_token(client, admin):
    log_in(client, "root@example.com")
    for page in ("/", "/convert", "/contact", "/profile", "/admin/settings", "/admin/messages"):
        html = client.get(page).get_data(as_text=True)
        for form in forms_on(html):
            if form.method == "post":
                assert "csrf_token" in form.names, (page, form.action)


def test_a_conversion_row_is_only_made_by_the_real_form(app, client, tmp_path):
    """The same upload without the token is refused and keeps nothing."""
    book = write_xlsx(tmp_path / "x.xlsx", {"S": [["a"], [1]]})
    response = client.post(
        "/convert",
        data={"file": (book.open("rb"), "x.xlsx")},
        content_type="multipart/form-data",
        csrf=False,
    )
    assert response.status_code == 400
    assert fetch(app, Conversion) is None
