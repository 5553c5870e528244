"""Hostile requests, by class: forged Host headers, cookies that outlive logout, huge numbers
in URLs, mail floods, account enumeration, look-alike addresses, hostile file names."""

import inspect
import re
import unicodedata
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from app import create_app
from app import email as outgoing
from app.extensions import db
from app.models import Conversion, LoginSession, User, normalise_email
from app.sheets.names import clean_file_name, visible_text
from app.storage import download_name

from .conftest import PASSWORD, AuthActions, fetch, link_in
from .test_convert import FORM, public_id_of, upload, wait_for

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SITE = "http://sheetport.test"
EVIL = "http://evil.example"


def urls_in(message):
    return re.findall(r"https?://[^\s\"'<>]+", message.body + (message.html or ""))


# 1. Every emailed link comes from SITE_URL, whatever Host the request named.


def test_email_templates_build_links_from_the_site_address_only():
    for template in (TEMPLATES / "email").iterdir():
        text = template.read_text()
        assert "url_for(" not in text.replace("site_url_for(", ""), template.name
        assert "request." not in text, template.name


def mail_flows(client, make_user):
    """Every way a visitor can make the site send mail, sent with a forged Host."""
    make_user(email="ada@example.com")
    make_user(email="newbie@example.com", confirmed=False)
    evil = {"base_url": EVIL}
    client.post("/auth/reset", data={"email": "ada@example.com"}, **evil)
    registration = {"name": "Grace", "password": PASSWORD, "password2": PASSWORD}
    client.post("/auth/register", data={**registration, "email": "grace@example.com"}, **evil)
    client.post("/auth/register", data={**registration, "email": "ada@example.com"}, **evil)
    fields = {"name": "Eve", "email": "eve@example.com", "subject": "Hi", "message": "Hello there"}
    client.post("/contact", data=fields, **evil)
    newbie = AuthActions(client)
    newbie.login(email="newbie@example.com", base_url=EVIL)
    client.post("/auth/confirm", **evil)
    client.post("/auth/logout", **evil)
    AuthActions(client).login(base_url=EVIL)
    client.post(
        "/auth/change-email", data={"email": "ada2@example.com", "password": PASSWORD}, **evil
    )


def test_every_emailed_link_uses_site_url_even_with_a_forged_host(client, make_user, outbox):
    mail_flows(client, make_user)
    templates_sent = {message.subject for message in outbox}
    assert len(templates_sent) >= 6, templates_sent
    for message in outbox:
        links = urls_in(message)
        assert links, message.subject
        for link in links:
            assert link.startswith(SITE + "/"), (message.subject, link)
        assert "evil.example" not in message.body + (message.html or "")


def test_reset_link_from_a_forged_host_works_on_the_site(client, user, outbox):
    client.post("/auth/reset", data={"email": "ada@example.com"}, base_url=EVIL)
    (message,) = outbox
    path = link_in(message, "/auth/reset/")
    assert f"{SITE}{path}" in message.body
    assert client.get(path).status_code == 200


@pytest.fixture
def production(tmp_path, monkeypatch):
    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path))
    return create_app(
        "production",
        {
            "SECRET_KEY": "x" * 32,
            "SITE_URL": "https://sheets.example.org",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.sqlite'}",
        },
    )


@pytest.mark.parametrize("path", ["/", "/auth/reset", "/auth/login", "/no-such-page"])
def test_production_refuses_unknown_hosts_with_a_400(production, path):
    client = production.test_client()
    response = client.get(path, base_url="https://evil.example")
    assert response.status_code == 400
    assert b"Traceback" not in response.data
    response = client.post("/auth/reset", data={"email": "a@b.c"}, base_url="https://evil.example")
    assert response.status_code == 400


def test_production_answers_its_own_host(production):
    with production.app_context():
        db.create_all()
    response = production.test_client().get("/help", base_url="https://sheets.example.org")
    assert response.status_code == 200
    assert production.config["TRUSTED_HOSTS"] == ["sheets.example.org"]


def test_production_keeps_extra_trusted_hosts(tmp_path, monkeypatch):
    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path))
    app = create_app(
        "production",
        {"SECRET_KEY": "x" * 32, "SITE_URL": "https://a.example", "TRUSTED_HOSTS": ["b.example"]},
    )
    assert app.config["TRUSTED_HOSTS"] == ["a.example", "b.example"]


@pytest.mark.parametrize("site_url", [None, "", "sheets.example.org", "ftp://x.example"])
def test_production_refuses_to_start_without_a_site_url(tmp_path, monkeypatch, site_url):
    monkeypatch.setenv("SHEETPORT_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="SITE_URL"):
        create_app("production", {"SECRET_KEY": "x" * 32, "SITE_URL": site_url})


# 2 and 3. Logging out ends the sign-in, everywhere its cookies were copied.


def cookie_value(client, name):
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


def copy_cookies(app, source, names=("session", "remember_token")):
    thief = app.test_client()
    for name in names:
        value = cookie_value(source, name)
        if value:
            thief.set_cookie(name, value)
    return thief


def test_logout_deletes_the_remember_me_cookie(client, auth, user):
    auth.login(remember=True)
    assert cookie_value(client, "remember_token")
    response = auth.logout()
    deleted = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_")]
    assert deleted and "Expires=Thu, 01 Jan 1970" in deleted[0]
    assert client.get("/profile").status_code == 302  # not signed back in


@pytest.mark.parametrize(
    "copied", [("session", "remember_token"), ("session",), ("remember_token",)]
)
def test_copied_cookies_stop_working_after_logout(app, client, auth, user, copied):
    auth.login(remember=True)
    thief = copy_cookies(app, client, copied)
    assert thief.get("/profile").status_code == 200
    auth.logout()
    assert thief.get("/profile").status_code == 302
    assert thief.get("/profile").status_code == 302  # and the remember cookie does not revive it


def test_log_out_everywhere_ends_every_session(app, client, auth, user):
    auth.login(remember=True)
    laptop = app.test_client()
    AuthActions(laptop).login(remember=True)
    response = client.post("/auth/logout-everywhere")
    assert response.status_code == 302
    assert laptop.get("/profile").status_code == 302
    assert client.get("/profile").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(LoginSession.id))) == 0


def test_profile_lists_sessions_and_ends_one(app, client, auth, user):
    auth.login()
    laptop = app.test_client()
    AuthActions(laptop).login(headers={"User-Agent": "Laptop Browser 1.0"})
    page = client.get("/profile").get_data(as_text=True)
    assert page.count('data-testid="login-session"') == 2
    assert "Laptop Browser 1.0" in page and "This browser" in page
    other = fetch(app, LoginSession, user_agent="Laptop Browser 1.0")
    response = client.post(f"/auth/sessions/{other.id}/end")
    assert response.status_code == 302
    assert laptop.get("/profile").status_code == 302
    assert client.get("/profile").status_code == 200


def test_cannot_end_someone_elses_session(app, client, auth, user, make_user):
    make_user(email="eve@example.com")
    eve = app.test_client()
    AuthActions(eve).login(email="eve@example.com")
    theirs = fetch(app, LoginSession, user_id=fetch(app, User, email="eve@example.com").id)
    auth.login()
    assert client.post(f"/auth/sessions/{theirs.id}/end").status_code == 404
    assert eve.get("/profile").status_code == 200


def test_session_tokens_are_stored_hashed(app, client, auth, user):
    auth.login(remember=True)
    with app.app_context():
        stored = db.session.scalar(select(LoginSession.token_hash))
    assert len(stored) == 64
    assert stored not in cookie_value(client, "remember_token")


def test_deactivated_user_is_signed_out_at_once(app, client, auth, user):
    auth.login(remember=True)
    with app.app_context():
        db.session.get(User, user.id).active = False
        db.session.commit()
    assert client.get("/profile").status_code == 302


# 5. Integers from URLs are bounded in one place.

HUGE = "99999999999999999999"


def get_routes(app):
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.endpoint != "static":
            yield rule


def test_huge_page_numbers_are_page_one_everywhere(app, client, admin):
    AuthActions(client).login(email="root@example.com")
    checked = 0
    for rule in get_routes(app):
        if rule.arguments:
            continue
        response = client.get(f"{rule.rule}?page={HUGE}")
        assert response.status_code < 500, rule.rule
        response = client.get(f"{rule.rule}?page=-5")
        assert response.status_code < 500, rule.rule
        checked += 1
    assert checked > 10


def test_huge_integers_in_paths_are_404s(app, client, admin):
    AuthActions(client).login(email="root@example.com")
    integer_rules = [r for r in app.url_map.iter_rules() if "<int:" in r.rule]
    assert len(integer_rules) >= 5
    for rule in integer_rules:
        path = re.sub(r"<int:\w+>", HUGE, rule.rule)
        path = re.sub(r"<[^>]+>", "x", path)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(path, method=method)
            assert response.status_code == 404, (method, path)


# 6. Every view that sends mail is limited, per address, account and mailbox.


def views_that_send_mail(app):
    senders = [name for name in vars(outgoing) if name.startswith("send_")]
    for endpoint, view in app.view_functions.items():
        source = inspect.getsource(inspect.unwrap(view))
        if any(re.search(rf"\b{name}\(", source) for name in senders):
            yield endpoint, view


def test_every_view_that_sends_mail_is_limited(app):
    found = dict(views_that_send_mail(app))
    assert {"auth.register", "auth.password_reset_request", "main.contact"} <= set(found)
    for endpoint, view in found.items():
        assert getattr(view, "sends_mail", False), f"{endpoint} sends mail without a limit"


LIMITED = {
    "RATELIMIT_ENABLED": True,
    "MAIL_LIMIT_PER_MAILBOX": "3 per hour",
    "MAIL_LIMIT_PER_ACCOUNT": "4 per hour",
    "MAIL_LIMIT_PER_ADDRESS": "6 per hour",
}


@pytest.mark.parametrize("app_settings", [LIMITED])
def test_change_email_cannot_flood_a_strangers_mailbox(client, auth, user, outbox):
    auth.login()
    answers = [
        client.post(
            "/auth/change-email", data={"email": "stranger@example.com", "password": PASSWORD}
        ).status_code
        for _ in range(5)
    ]
    assert answers == [302, 302, 302, 429, 429]
    assert len(outbox) == 3


@pytest.mark.parametrize("app_settings", [LIMITED])
def test_the_mailbox_limit_is_shared_by_every_form(app, client, make_user, outbox):
    make_user(email="victim@example.com")
    spelled = ["victim@example.com", "VICTIM@example.com", "ｖｉｃｔｉｍ@example.com"]
    for email in spelled:  # three forms, three spellings, one mailbox
        client.post("/auth/reset", data={"email": email})
    other = app.test_client()
    response = other.post(
        "/auth/register",
        data={
            "name": "X",
            "email": "victim@example.com",
            "password": PASSWORD,
            "password2": PASSWORD,
        },
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert response.status_code == 429
    assert len(outbox) == 3


@pytest.mark.parametrize("app_settings", [LIMITED])
def test_resend_confirmation_is_limited_for_unconfirmed_accounts(client, make_user, outbox):
    make_user(email="new@example.com", confirmed=False)
    AuthActions(client).login(email="new@example.com")
    answers = [client.post("/auth/confirm").status_code for _ in range(4)]
    assert answers == [302, 302, 302, 429]


@pytest.mark.parametrize("app_settings", [LIMITED])
def test_one_address_cannot_mail_many_mailboxes(client, outbox):
    answers = [
        client.post("/auth/reset", data={"email": f"person{n}@example.com"}).status_code
        for n in range(7)
    ]
    assert answers == [302] * 6 + [429]


# 7. Registration does not tell who has an account (see also test_auth).


def test_registration_answers_alike_for_new_and_taken_addresses(client, user, outbox):
    data = {"name": "Someone", "password": PASSWORD, "password2": PASSWORD}
    taken = client.post("/auth/register", data={**data, "email": "ada@example.com"})
    fresh = client.post("/auth/register", data={**data, "email": "fresh@example.com"})
    assert taken.status_code == fresh.status_code == 302
    assert taken.headers["Location"] == fresh.headers["Location"]
    page = client.get("/auth/login").get_data(as_text=True)
    assert "already" not in page and page.count("Open the link in our email") == 2


def test_change_email_to_a_taken_address_answers_alike(client, auth, user, make_user, outbox):
    make_user(email="taken@example.com")
    auth.login()
    response = client.post(
        "/auth/change-email",
        data={"email": "taken@example.com", "password": PASSWORD},
        follow_redirects=True,
    )
    assert b"We sent it to taken@example.com" in response.data
    (notice,) = outbox
    assert notice.recipients == ["taken@example.com"]
    assert "/auth/change-email/" not in notice.body


# 8. One spelling per mailbox.

NFC = unicodedata.normalize("NFC", "josé@example.com")
NFD = unicodedata.normalize("NFD", "josé@example.com")


@pytest.mark.parametrize(
    "first, second",
    [
        (NFC, NFD),
        ("anna@bücher.example", "anna@xn--bcher-kva.example"),
        ("ａｄａ@ｅｘａｍｐｌｅ.com", "ada@example.com"),
        ("Ada@Example.COM", "ada@example.com"),
        ("ada@example.com.", "ada@example.com"),
    ],
)
def test_look_alike_addresses_are_one_account(app, client, outbox, first, second):
    assert normalise_email(first) == normalise_email(second)
    data = {"name": "A", "password": PASSWORD, "password2": PASSWORD}
    client.post("/auth/register", data={**data, "email": first})
    client.post("/auth/register", data={**data, "email": second})
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 1
    assert AuthActions(client).login(email=second).status_code == 302


def test_migration_respells_existing_addresses(tmp_path):
    from flask_migrate import downgrade, upgrade

    from .conftest import build_app

    app = build_app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'm.sqlite'}")
    with app.app_context():
        upgrade(revision="e1c27a32b413")
        users = sa.table(
            "users",
            *(sa.column(name) for name in ("id", "email", "name", "password_hash")),
            *(sa.column(name) for name in ("confirmed", "active", "session_token")),
            sa.column("created_at", sa.DateTime),
            sa.column("last_seen_at", sa.DateTime),
        )
        when = datetime(2026, 1, 1)
        with db.engine.begin() as connection:
            for n, email in enumerate(["José@Example.com", NFC, "Ｂｏｂ@example.com"], 1):
                connection.execute(
                    users.insert().values(
                        id=n,
                        email=email,
                        name="",
                        password_hash="x",
                        confirmed=True,
                        active=True,
                        session_token=f"t{n}",
                        created_at=when,
                        last_seen_at=when,
                    )
                )
        upgrade(revision="b7c1d2e3f4a5")
        with db.engine.connect() as connection:
            emails = [
                row[0] for row in connection.exec_driver_sql("SELECT email FROM users ORDER BY id")
            ]
        downgrade(revision="e1c27a32b413")
        db.engine.dispose()
    # The first would become the second's spelling: left as it is (a person decides).
    assert emails == ["José@Example.com", NFC, "bob@example.com"]


# 9, 10, 11. File names: one cleaned name, nothing invisible, no NUL.


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("invoice\u202excod.csv", "invoicexcod.csv"),
        ("a\u200bb\u2066c\u2069.xlsx", "abc.xlsx"),
        ("nul\x00name.csv", "nulname.csv"),
        ("C:\\Users\\ada\\report.xlsx", "report.xlsx"),
        ("../../etc/passwd", "passwd"),
        ("  spaced   out .csv", "spaced out .csv"),
        ("\u202e", "upload"),
        ("", "upload"),
    ],
)
def test_clean_file_name(raw, clean):
    assert clean_file_name(raw) == clean


def test_long_names_keep_their_extension():
    name = clean_file_name("x" * 400 + ".csv")
    assert len(name) == 255 and name.endswith("xxx.csv")


def test_download_names_have_no_invisible_characters():
    name = download_name("invoice\u202excod.xlsx", "csv", "Sheet\u200f1")
    assert name == "invoicexcod - Sheet1.csv"
    assert visible_text("a\u00adb\ufeffc") == "abc"


def test_a_file_name_over_255_characters_converts(app, client, tmp_path):
    name = "Quarterly report " + "é" * 300 + ".csv"
    response = upload(client, b"a,b\n1,2\n", name=name)
    assert response.status_code == 302
    public_id = public_id_of(response)
    sheet = fetch(app, Conversion, public_id=public_id).info["sheets"][0]["name"]
    for output_format in ("csv", "xlsx"):
        answer = client.post(
            f"/convert/{public_id}",
            data={**FORM, "output_format": output_format, "sheets": [sheet]},
        )
        assert answer.status_code == 302
        done = wait_for(app, public_id)
        assert done.status == "done", done.error
        assert len(done.original_name) <= 255 and done.original_name.endswith(".csv")


def test_hostile_upload_names_are_cleaned_at_the_edge(app, client):
    response = upload(client, b"a,b\n1,2\n", name="invoice\u202excod\x00.csv")
    public_id = public_id_of(response)
    conversion = fetch(app, Conversion, public_id=public_id)
    assert conversion.original_name == "invoicexcod.csv"
    client.post(f"/convert/{public_id}", data={**FORM, "sheets": ["invoicexcod"]})
    wait_for(app, public_id)
    with client.get(f"/convert/{public_id}/download") as download:
        disposition = download.headers["Content-Disposition"]
    assert "\u202e" not in disposition and "%E2%80%AE" not in disposition


@pytest.mark.parametrize(
    "method, path, data",
    [
        ("GET", "/history?page=1%00", None),
        (
            "POST",
            "/contact",
            {"name": "a\x00b", "email": "a@b.example", "subject": "s", "message": "m"},
        ),
        ("POST", "/auth/login", {"email": "ada@example.com\x00", "password": "x"}),
    ],
)
def test_nul_characters_are_refused_with_a_400(client, method, path, data):
    response = client.open(path, method=method, data=data)
    assert response.status_code == 400
    assert b"not allowed" in response.data


# flask check-deploy


def test_check_deploy_lists_unsafe_settings(runner):
    result = runner.invoke(args=["check-deploy"])
    assert result.exit_code == 1
    assert "ERROR: SECRET_KEY is missing or short" in result.output
    assert "ERROR: SITE_URL is http://sheetport.test" in result.output
    assert "ERROR: TRUSTED_HOSTS is empty" in result.output
    assert "ERROR: Rate limits are off" in result.output


def test_check_deploy_passes_a_sound_production_setup(production):
    production.config["TRUSTED_PROXIES"] = 1
    production.config["MAIL_SERVER"] = "smtp.example.org"
    production.config["RATELIMIT_STORAGE_URI"] = "redis://localhost:6379"
    result = production.test_cli_runner().invoke(args=["check-deploy"])
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output
    assert "SQLite" in result.output  # still a warning worth reading


def test_a_deleted_accounts_cookie_does_not_open_the_next_account(app, client, make_user):
    make_user(email="root@example.com", admin=True)
    doomed = make_user(email="doomed@example.com")
    auth = AuthActions(client)
    auth.login(email="doomed@example.com", remember=True)
    thief = copy_cookies(app, client)
    admin = app.test_client()
    AuthActions(admin).login(email="root@example.com")
    assert admin.post(f"/admin/users/{doomed.id}/delete").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(LoginSession.id))) == 1  # the admin's
    newcomer = make_user(email="newcomer@example.com")  # SQLite may give it the same id
    assert thief.get("/profile").status_code == 302, newcomer.id


@pytest.mark.parametrize(
    "path, kwargs",
    [
        ("/history?page=1&page=2%00", {}),
        ("/convert/abc%00def", {}),
        ("/api/v1/conversions?sheet=a&sheet=x%00y", {"method": "POST"}),
        ("/api/v1/me", {"method": "POST", "json": {"delimiter": "\x00"}}),
        ("/api/v1/me", {"method": "POST", "json": {"nested": [{"deep": "a\x00"}]}}),
    ],
)
def test_nul_anywhere_in_a_request_is_a_400(client, path, kwargs):
    response = client.open(path, **kwargs)
    assert response.status_code == 400
    assert b"not allowed" in response.data


def test_names_people_type_lose_invisible_characters(app, client, auth, user):
    auth.login()
    client.post("/profile/edit", data={"name": "Mallory\u202egnp.exe\u200b"})
    assert fetch(app, User, email="ada@example.com").name == "Mallorygnp.exe"


@pytest.mark.parametrize("app_settings", [{"REMEMBER_COOKIE_SECURE": True}])
def test_the_remember_me_cookie_is_deleted_with_the_attributes_it_was_set_with(
    client, auth, user, app_settings
):
    """Issue 22, 6: the deletion at logout was sent without Secure (nor HttpOnly, SameSite)."""
    set_at_login = auth.login(remember=True).headers.getlist("Set-Cookie")
    [remember] = [c for c in set_at_login if c.startswith("remember_token=")]
    assert "Secure" in remember and "HttpOnly" in remember and "SameSite=Lax" in remember
    deleted = [c for c in auth.logout().headers.getlist("Set-Cookie") if "remember_token=" in c]
    assert deleted and all("Max-Age=0" in c for c in deleted)
    assert all("Secure" in c and "HttpOnly" in c and "SameSite=Lax" in c for c in deleted)
