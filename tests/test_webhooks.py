"""Webhooks (issue 27, 1): a receiver started here, on loopback (allowed by the test's
settings only), gets each event of a conversion signed, with one id on every attempt, after
answering 500 twice; callbacks inside the network are refused with the default settings,
after DNS and on every redirect."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest

from app import outbound, webhooks
from app.extensions import db
from app.models import ApiToken, Conversion, WebhookDelivery, utcnow

from .api_helpers import Api, make_token
from .conftest import fetch
from .test_api import assert_problem, wait_done
from .test_convert import hold_running


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps what it is sent and answers from `answers`
    (the last one again once they run out); `redirect_to` makes it answer 307 there."""

    def __init__(self, answers=(200,), redirect_to=None):
        self.answers, self.redirect_to, self.got = list(answers), redirect_to, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append((dict(self.headers), body.decode()))
                status = (
                    receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                )
                if receiver.redirect_to:
                    status = 307
                self.send_response(status)
                if receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/sheetport"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    started = Receiver(answers=(500, 500, 200))
    yield started
    started.close()


@pytest.fixture
def app_settings(request):
    """Only the receiver's own host:port is allowed; retries due at once."""
    port = request.getfixturevalue("receiver").port
    return {"OUTBOUND_ALLOWED_HOSTS": [f"127.0.0.1:{port}"], "WEBHOOK_RETRY_SECONDS": (0, 0, 0)}


@pytest.fixture
def api(app, client, user):
    return Api(client, make_token(app))


def secret_of(api):
    response = api.post("/api/v1/webhooks/secret")
    assert response.status_code == 201
    return response.json["secret"]


def verified(headers, body, secret):
    parts = dict(part.split("=", 1) for part in headers["Sheetport-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.{body}".encode(), hashlib.sha256)
    assert hmac.compare_digest(parts["v1"], expected.hexdigest())
    assert abs(int(parts["t"]) - time.time()) < 60
    return json.loads(body)


def deliver_all(app, receiver, count, seconds=15):
    """Run the periodic retries until the receiver has `count` requests."""
    deadline = time.monotonic() + seconds
    while len(receiver.got) < count and time.monotonic() < deadline:
        with app.app_context():
            webhooks.send_pending()
        time.sleep(0.05)
    assert len(receiver.got) >= count, receiver.got


def deliveries(app):
    with app.app_context():
        return [
            (d.event, d.state, d.attempts, d.last_status)
            for d in db.session.scalars(db.select(WebhookDelivery).order_by(WebhookDelivery.id))
        ]


def test_a_conversion_posts_its_end_signed_and_retried(app, api, receiver):
    secret = secret_of(api)
    query = f"?format=csv&callback_url={quote(receiver.url)}"
    created = api.upload("/api/v1/conversions", b"a,b\n1,2\n", name="sales.csv", query=query)
    assert created.status_code == 201, created.json
    public_id = created.json["id"]
    assert created.json["callback_url"] == receiver.url
    assert wait_done(api, public_id)["status"] == "done"
    deliver_all(app, receiver, 3)
    time.sleep(0.2)
    assert len(receiver.got) == 3  # delivered on the third attempt, then never again
    with app.app_context():
        webhooks.send_pending()
    assert len(receiver.got) == 3

    ids = set()
    for headers, body in receiver.got:
        event = verified(headers, body, secret)
        ids.add(headers["Sheetport-Event-Id"])
        assert headers["Sheetport-Event"] == event["type"] == "conversion.succeeded"
        assert headers["Content-Type"] == "application/json"
    assert ids == {event["id"]}  # the same id on every attempt: a receiver drops repeats
    conversion = event["conversion"]
    assert conversion["id"] == public_id and conversion["status"] == "done"
    assert conversion["result"]["name"] == "sales.csv" and conversion["result"]["size"] > 0
    assert (
        conversion["links"]["result"]
        == f"http://sheetport.test/api/v1/conversions/{public_id}/result"
    )

    log = api.get("/api/v1/webhooks").json
    (delivery,) = log["deliveries"]
    assert delivery["id"] == event["id"] and delivery["state"] == "delivered"
    assert delivery["attempts"] == 3 and delivery["last_status"] == 200
    assert delivery["conversion"] == public_id and log["secret"] is None


def test_a_failed_job_posts_failed(app, api, receiver):
    receiver.answers = [200]
    secret_of(api)
    query = f"?format=csv&sheet=Nope&callback_url={quote(receiver.url)}"
    response = api.upload("/api/v1/convert", b"a\n1\n", name="a.csv", query=query)
    assert_problem(response, 422, "Nope")
    deliver_all(app, receiver, 1)
    event = json.loads(receiver.got[0][1])
    assert event["type"] == "conversion.failed" and "Nope" in event["conversion"]["error"]
    assert event["conversion"]["result"] is None


def test_an_interrupted_job_posts_failed(app, api, receiver):
    receiver.answers = [200]
    secret_of(api)
    query = f"?format=csv&callback_url={quote(receiver.url)}"
    # Refused before any job (not a spreadsheet): nothing is posted.
    response = api.upload("/api/v1/convert", b"PK\x03\x04 broken", name="broken.xlsx", query=query)
    assert response.status_code in (415, 422), response.get_data(as_text=True)

    created = api.upload("/api/v1/conversions", b"a\n1\n", name="a.csv", query=query).json
    wait_done(api, created["id"])
    deliver_all(app, receiver, 1)
    hold_running(app, created["id"])
    with app.app_context():  # its runner died: the lease lapsed, the tick reclaims it
        conversion = db.session.scalar(db.select(Conversion).filter_by(public_id=created["id"]))
        conversion.lease_expires_at = utcnow()
        conversion.callback_url = receiver.url
        db.session.commit()
        from app import jobs

        assert jobs.reclaim_expired() == 1
    deliver_all(app, receiver, 2)
    types = [json.loads(body)["type"] for _, body in receiver.got]
    assert types == ["conversion.succeeded", "conversion.failed"]
    assert "stopped" in json.loads(receiver.got[1][1])["conversion"]["error"]


def test_the_tokens_default_callback(app, api, receiver):
    receiver.answers = [200]
    response = api.request("PUT", "/api/v1/webhooks", json={"url": receiver.url})
    assert response.status_code == 200
    secret = response.json["secret"]
    assert secret.startswith("whsec_") and response.json["url"] == receiver.url
    again = api.request("PUT", "/api/v1/webhooks", json={"url": receiver.url}).json
    assert again["secret"] is None and again["has_secret"]  # shown once
    created = api.upload("/api/v1/conversions", b"a\n1\n", name="a.csv").json
    assert created["callback_url"] == receiver.url
    wait_done(api, created["id"])
    deliver_all(app, receiver, 1)
    verified(*receiver.got[0], secret)
    # Rotated: the next delivery is signed with the new secret.
    new = secret_of(api)
    assert new != secret
    created = api.upload("/api/v1/conversions", b"a\n1\n", name="b.csv").json
    wait_done(api, created["id"])
    deliver_all(app, receiver, 2)
    verified(*receiver.got[1], new)
    cleared = api.request("PUT", "/api/v1/webhooks", json={"url": None}).json
    assert cleared["url"] is None
    assert api.upload("/api/v1/conversions", b"a\n1\n", name="c.csv").json["callback_url"] is None


def test_a_callback_without_a_secret_is_refused_and_keeps_nothing(app, api, receiver):
    query = f"?callback_url={quote(receiver.url)}"
    response = api.upload("/api/v1/conversions", b"a\n1\n", name="a.csv", query=query)
    assert_problem(response, 422, "no webhook secret yet")
    assert fetch(app, Conversion) is None


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1/hook", "a loopback address"),
        ("http://10.0.0.1/hook", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://[::1]:8080/hook", "a loopback address"),
        ("http://[::ffff:127.0.0.1]/hook", "a loopback address"),
        ("http://localhost/hook", "a loopback address"),  # a name resolving to one
        ("http://100.64.0.1/hook", "not a public address"),
        ("http://0.0.0.0/hook", "an unspecified address"),
        ("ftp://example.com/hook", "http:// or https://"),
        ("http://user:pw@127.0.0.1/hook", "no user name or password"),
        ("http:///hook", "http:// or https://"),
        ("http://[::1/hook", "not a URL"),
        ("http://[2002:7f00:1::]/hook", "a loopback address"),  # 6to4 around 127.0.0.1
        ("http://[2002:a9fe:a9fe::1]/hook", "a link-local address"),  # ...around metadata
        ("http://[fec0::1]/hook", "a site-local address"),
        ("http://1.1.1.1:22/hook", "port 80, 443 or one above 1023"),
        ("http://a%0d%0aX/hook", "not a host name"),
    ],
)
def test_callbacks_inside_the_network_are_refused(app, api, url, reason):
    secret_of(api)
    response = api.request("PUT", "/api/v1/webhooks", json={"url": url})
    assert_problem(response, 422, reason)
    query = f"?callback_url={quote(url)}"
    response = api.upload("/api/v1/conversions", b"a\n1\n", name="a.csv", query=query)
    assert_problem(response, 422, reason)
    assert fetch(app, Conversion) is None


def test_a_redirect_is_checked_like_the_first_address(receiver):
    """The allowed receiver redirects to a private address, and then to another port of
    its own host: neither is requested."""
    allowed = outbound.Rules(allowed_hosts=frozenset({f"127.0.0.1:{receiver.port}"}))
    receiver.redirect_to = "http://10.0.0.1/steal"
    answer = outbound.post(receiver.url, b"{}", {}, allowed, timeout=5)
    assert answer.status is None and "a private address (10.0.0.1)" in answer.error
    other = Receiver()
    try:
        receiver.redirect_to = other.url
        answer = outbound.post(receiver.url, b"{}", {}, allowed, timeout=5)
        assert "a loopback address" in answer.error and other.got == []
    finally:
        other.close()


def test_the_checked_address_is_the_one_connected_to(receiver):
    """A name that resolves to a public address when checked is connected to at that
    address, not looked up again (DNS rebinding)."""
    looked_up = []

    def resolve(host, port, **kwargs):
        looked_up.append(host)
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    allowed = outbound.Rules(allowed_hosts=frozenset({f"hooks.example:{receiver.port}"}))
    answer = outbound.post(
        f"http://hooks.example:{receiver.port}/x", b"{}", {}, allowed, 5, resolve=resolve
    )
    assert answer.status == 500 and looked_up == ["hooks.example"]
    assert receiver.got[0][0]["Host"] == f"hooks.example:{receiver.port}"


def test_a_revoked_tokens_deliveries_stop(app, api, receiver):
    receiver.answers = [500]
    secret_of(api)
    query = f"?callback_url={quote(receiver.url)}"
    created = api.upload("/api/v1/conversions", b"a\n1\n", name="a.csv", query=query).json
    wait_done(api, created["id"])
    deliver_all(app, receiver, 1)
    with app.app_context():
        token = db.session.scalar(db.select(ApiToken))
        token.revoked_at = utcnow()
        db.session.commit()
        webhooks.send_pending()
        webhooks.send_pending()
    (event,) = deliveries(app)
    assert event[1] == "failed" and len(receiver.got) <= 2


def test_a_receiver_that_never_takes_it_is_given_up(app, api, receiver):
    receiver.answers = [503]
    secret_of(api)
    query = f"?callback_url={quote(receiver.url)}"
    created = api.upload("/api/v1/conversions", b"a\n1\n", name="a.csv", query=query).json
    wait_done(api, created["id"])
    deliver_all(app, receiver, 4)  # the first try and three retries
    time.sleep(0.2)
    with app.app_context():
        webhooks.send_pending()
    assert deliveries(app) == [("conversion.succeeded", "failed", 4, 503)]
    assert len(receiver.got) == 4
    log = api.get("/api/v1/webhooks").json["deliveries"][0]
    assert log["last_error"] == "Answered 503." and log["next_attempt_at"] is None


def test_a_host_name_is_sent_in_its_ascii_form(receiver):
    """An IDN host is looked up and sent as punycode (the raw name crashed the sender)."""
    receiver.answers = [204]
    looked_up = []

    def resolve(host, port, **kwargs):
        looked_up.append(host)
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    allowed = outbound.Rules(allowed_hosts=frozenset({f"xn--exmple-cua.com:{receiver.port}"}))
    url = f"http://exämple.com:{receiver.port}/é?q=ü"
    answer = outbound.post(url, b"{}", {}, allowed, 5, resolve=resolve)
    assert answer.status == 204 and looked_up == ["xn--exmple-cua.com"]
    assert receiver.got[0][0]["Host"] == f"xn--exmple-cua.com:{receiver.port}"


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_time_limit():
    """Per-read timeouts alone let a byte every second go on for ever."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def drip():
        connection, _ = listener.accept()
        connection.recv(65536)
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                connection.send(bytes([byte]))
                time.sleep(0.3)
        except OSError:
            pass
        connection.close()

    threading.Thread(target=drip, daemon=True).start()
    allowed = outbound.Rules(allowed_hosts=frozenset({f"127.0.0.1:{port}"}))
    started = time.monotonic()
    answer = outbound.post(f"http://127.0.0.1:{port}/", b"{}", {}, allowed, timeout=1.5)
    assert time.monotonic() - started < 4
    assert answer.status is None and "time limit" in answer.error
    listener.close()


def test_one_delivery_that_breaks_does_not_stop_the_round(app, api, receiver, monkeypatch):
    receiver.answers = [200]
    secret_of(api)
    query = f"?callback_url={quote(receiver.url)}"
    for name in ("a.csv", "b.csv"):
        created = api.upload("/api/v1/conversions", b"a\n1\n", name=name, query=query).json
        wait_done(api, created["id"])
    time.sleep(0.3)  # the first attempts, made at once
    with app.app_context():
        db.session.execute(
            db.update(WebhookDelivery).values(next_attempt_at=utcnow(), delivered_at=None)
        )
        db.session.commit()
    sent = len(receiver.got)
    real_post = outbound.post
    calls = []

    def breaks_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the sender")
        return real_post(*args, **kwargs)

    monkeypatch.setattr(outbound, "post", breaks_once)
    with app.app_context():
        delivered, _ = webhooks.send_pending()
    assert len(calls) == 2 and delivered == 1 and len(receiver.got) == sent + 1


def test_deleting_the_account_deletes_its_deliveries(app, client, auth, user, make_user, receiver):
    """SQLite reuses the token's id: the next account's token must not inherit the log."""
    from .conftest import PASSWORD
    from .forms import submit

    api = Api(client, make_token(app))
    secret_of(api)
    query = f"?callback_url={quote(receiver.url)}"
    created = api.upload("/api/v1/conversions", b"a\n1\n", name="a.csv", query=query).json
    wait_done(api, created["id"])
    assert deliveries(app)
    auth.login()
    assert submit(client, "/auth/delete-account", {"password": PASSWORD}).status_code == 302
    assert deliveries(app) == []
    make_user(email="bob@example.com")
    bob = Api(client, make_token(app, email="bob@example.com"))
    assert bob.get("/api/v1/webhooks").json["deliveries"] == []
