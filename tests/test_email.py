"""send_email: real SMTP delivery, the log fallback, and failures that must not break pages."""

import logging

import pytest

from app.email import send_email

from .conftest import link_in
from .smtp import SMTPServer, free_port

REGISTRATION = {
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "password": "a long password",
    "password2": "a long password",
}


@pytest.fixture
def smtp():
    with SMTPServer() as server:
        yield server


# Flask-Mail reads its settings when the app is created, so each test states them there.
@pytest.fixture
def app_settings(request):
    if "smtp" in request.fixturenames:
        return request.getfixturevalue("smtp").mail_settings()
    return getattr(request, "param", {})


def test_mail_goes_through_a_real_smtp_server(app, client, smtp):
    response = client.post("/auth/register", data=REGISTRATION)
    assert response.status_code == 302
    assert len(smtp.inbox.messages) == 2
    envelope, message = smtp.inbox.messages[0]
    assert envelope.rcpt_tos == ["grace@example.com"]
    assert message["Subject"] == "[Sheetport] Confirm your email address"
    assert "noreply@example.com" in message["From"]
    assert message.get_body(preferencelist=("html",)) is not None
    assert "/auth/confirm/" in smtp.inbox.text(0)
    admin_envelope, _ = smtp.inbox.messages[1]
    assert admin_envelope.rcpt_tos == [app.config["ADMIN_EMAIL"]]


def test_mail_is_sent_off_the_request_thread(app, smtp):
    import time

    app.config["MAIL_SEND_SYNC"] = False
    with app.test_request_context():
        send_email("someone@example.com", "Hello", "contact", message=_message())
    deadline = time.monotonic() + 5
    while not smtp.inbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert smtp.inbox.messages and smtp.inbox.messages[0][0].rcpt_tos == ["someone@example.com"]


@pytest.mark.parametrize("app_settings", [{"MAIL_SERVER": None}], indirect=True)
def test_without_mail_server_the_email_is_logged_in_full(app, client, caplog):
    with caplog.at_level(logging.WARNING):
        client.post("/auth/register", data=REGISTRATION)
    logged = caplog.text
    assert "MAIL_SERVER is not set" in logged
    assert "To: grace@example.com" in logged
    assert "http://sheetport.test/auth/confirm/" in logged  # on SITE_URL, a link one can open


@pytest.mark.parametrize(
    "app_settings",
    [{"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": free_port(), "MAIL_SUPPRESS_SEND": False}],
    indirect=True,
)
def test_a_failing_mail_server_does_not_break_the_page(app, client, caplog):
    with caplog.at_level(logging.ERROR):
        response = client.post("/auth/register", data=REGISTRATION)
    assert response.status_code == 302
    assert "Could not send email" in caplog.text


def test_confirmation_link_from_real_mail_works(app, client, smtp):
    client.post("/auth/register", data=REGISTRATION)

    class Sent:
        body = smtp.inbox.text(0)

    response = client.get(link_in(Sent, "/auth/confirm/"), follow_redirects=True)
    assert b"Your email address is confirmed" in response.data


def _message():
    from app.models import Message

    return Message(name="A", email="a@example.com", subject="Hi", body="Hello there")


@pytest.mark.parametrize(
    "app_settings",
    [{"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": free_port(), "MAIL_SUPPRESS_SEND": False}],
)
def test_a_refused_email_is_not_reported_as_sent(app, client):
    client.post("/auth/register", data=REGISTRATION)
    page = client.get("/auth/login").get_data(as_text=True)
    assert "could not send it to grace@example.com" in page
    assert "We sent it" not in page


def test_mail_the_outbox_cannot_keep_is_sent_once_and_logged_in_one_line(app, smtp, caplog):
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        db.session.execute(text("DROP TABLE outgoing_mail"))  # the database refuses the row
        db.session.commit()
    with app.test_request_context(), caplog.at_level(logging.ERROR):
        send_email("someone@example.com", "Hello", "contact", message=_message())
    assert smtp.inbox.messages[0][0].rcpt_tos == ["someone@example.com"]
    kept = [r for r in caplog.records if "in the outbox" in r.getMessage()]
    (line,) = [r.getMessage() for r in kept]
    assert line.startswith("Could not keep email '[Sheetport] Hello' in the outbox (")
    assert line.endswith("); it is sent once, without retries") and "outgoing_mail" in line
    assert not kept[0].exc_info  # tables not there yet: an outage of the setup, one line
