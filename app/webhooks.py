"""Webhooks: an API client hears that its conversion ended instead of polling for it.

A conversion started through the API with a `callback_url` (or with a token that has a
default one, `webhook_url`) gets an event when its job ends: `conversion.succeeded`,
`conversion.failed` or `conversion.cancelled`. The event is added to the session that writes
the job's end (conversion_ended), so it is committed with it: an outbox, as mail has. It is
then POSTed, signed with the token's secret, and retried with backoff (WEBHOOK_RETRY_SECONDS)
until the receiver answers 2xx; each attempt is written on its row, which the token's owner
reads as the delivery log (GET /api/v1/webhooks).

The signature, in the `Sheetport-Signature` header: `t=<unix time>,v1=<hex>`, where hex is
the HMAC-SHA256 of `<t>.<body>` keyed with the secret. `Sheetport-Event-Id` is the same on
every attempt of an event, for receivers to drop duplicates. Targets are checked by
app/outbound.py (no loopback, private or link-local addresses unless the operator allows).
"""

import hashlib
import hmac
import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from . import outbound
from .exceptions import Refused
from .extensions import db
from .models import Conversion, WebhookDelivery, utcnow
from .urls import site_url_for

EVENTS = {
    Conversion.DONE: "conversion.succeeded",
    Conversion.FAILED: "conversion.failed",
    Conversion.CANCELLED: "conversion.cancelled",
}
SECRET_PREFIX = "whsec_"
KEEP_DAYS = 7  # a delivery's row, delivered or given up, stays this long as the log
BATCH = 50  # deliveries tried per round of the periodic work
LOG_LENGTH = 50  # the latest deliveries the API lists


class CallbackRefused(Refused):
    """A callback URL that may not be called, or cannot be signed; the message says why."""


def rules():
    return outbound.Rules.from_config(current_app.config)


def checked_callback(url):
    """`url` if Sheetport may call it now (its addresses checked); else CallbackRefused."""
    try:
        outbound.checked(url, rules())
    except outbound.Refused as refusal:
        raise CallbackRefused(f"The callback URL is refused: {refusal}") from None
    return url


def new_secret():
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def set_token_webhook(token, url):
    """Set (or, with None, clear) the token's default callback. Returns its signing secret
    when this made one (the first time): shown once."""
    token.webhook_url = checked_callback(url) if url else None
    made = None
    if url and token.webhook_secret is None:
        made = token.webhook_secret = new_secret()
    db.session.commit()
    return made


def rotate_secret(token):
    """A new signing secret for the token, from the next delivery on: shown once."""
    token.webhook_secret = new_secret()
    db.session.commit()
    return token.webhook_secret


NO_SECRET = (
    "This token has no webhook secret yet, so a callback could not be signed: POST "
    "/api/v1/webhooks/secret makes one (shown once), then send callback_url."
)


def callback_for(token, url):
    """The callback a conversion started with `token` keeps: `url` checked, or else the
    token's default (None: no callback). CallbackRefused if it may not be called, or the
    token has no secret to sign with."""
    url = checked_callback(url) if url else token.webhook_url
    if url and token.webhook_secret is None:
        raise CallbackRefused(NO_SECRET)
    return url


def conversion_ended(conversion):
    """Add the conversion's event to the session, for the caller to commit with the end it
    reports. Returns the delivery (or None: no callback, or no event for this status)."""
    event = EVENTS.get(conversion.status)
    if not conversion.callback_url or not conversion.callback_token_id or event is None:
        return None
    delivery = WebhookDelivery(
        public_id="evt_" + secrets.token_urlsafe(16),
        token_id=conversion.callback_token_id,
        event=event,
        conversion_public_id=conversion.public_id,
        url=conversion.callback_url,
        next_attempt_at=utcnow(),
    )
    delivery.body = json.dumps(event_body(delivery, conversion), separators=(",", ":"))
    db.session.add(delivery)
    return delivery


def event_body(delivery, conversion):
    done = conversion.status == Conversion.DONE
    public_id = conversion.public_id
    return {
        "id": delivery.public_id,
        "type": delivery.event,
        "created_at": utcnow().isoformat(timespec="seconds"),
        "conversion": {
            "id": public_id,
            "name": conversion.original_name,
            "status": conversion.status,
            "format": conversion.output_format,
            "error": conversion.error,
            "result": (
                {"name": conversion.result_name, "size": conversion.result_size} if done else None
            ),
            "links": {
                "self": site_url_for("api.conversion", public_id=public_id),
                "result": site_url_for("api.result", public_id=public_id) if done else None,
            },
        },
    }


def signature(secret, timestamp, body):
    signed = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={signed.hexdigest()}"


# First attempts, made off the job's thread by a few threads per process at most: a burst of
# job ends queues here rather than starting a thread each.
SENDERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhooks")
ROUND_SECONDS = 30  # a round of the periodic work stops starting attempts after this


def send_soon(app, delivery_ids):
    """Try these deliveries now, off the caller's thread (the periodic work retries any
    this does not get to)."""
    if not delivery_ids:
        return

    def run():
        with app.app_context():
            for delivery_id in delivery_ids:
                attempt(delivery_id)
            db.session.remove()

    SENDERS.submit(run)


def send_pending(now=None):
    """Try the deliveries that are due, for at most ROUND_SECONDS (the rest wait for the
    next round: the periodic work has other tasks); forget old ones. Returns (delivered,
    not)."""
    now = now or utcnow()
    due = db.session.scalars(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(BATCH)
    ).all()
    stop_at = time.monotonic() + ROUND_SECONDS
    outcomes = []
    for delivery_id in due:
        if time.monotonic() >= stop_at:
            break
        outcomes.append(attempt(delivery_id, now))
    db.session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.next_attempt_at.is_(None),
            WebhookDelivery.created_at < now - timedelta(days=KEEP_DAYS),
        )
    )
    db.session.commit()
    return outcomes.count(True), outcomes.count(False)


def attempt(delivery_id, now=None):
    """deliver(), whatever goes wrong: one delivery's failure is logged and rolled back,
    never the end of the others' round (its row is tried again once its claim lapses)."""
    try:
        return deliver(delivery_id, now)
    except Exception:
        db.session.rollback()
        current_app.logger.exception("Webhook delivery %s: the attempt failed", delivery_id)
        return False


def deliver(delivery_id, now=None):
    """One attempt, if no other process is making it. True if the receiver took it,
    False if not, None if it was not this process's to try."""
    now = now or utcnow()
    if not claim(delivery_id, now):
        return None
    delivery = db.session.get(WebhookDelivery, delivery_id)
    token = delivery.token
    if token is None or token.webhook_secret is None or not token.valid():
        return record(delivery, outbound.Answer(None, "The token was revoked or expired."), True)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Sheetport-Webhooks/1",
        "Sheetport-Event": delivery.event,
        "Sheetport-Event-Id": delivery.public_id,
        "Sheetport-Signature": signature(token.webhook_secret, timestamp, delivery.body),
    }
    config = current_app.config
    answer = outbound.post(
        delivery.url, delivery.body.encode(), headers, rules(), config["WEBHOOK_TIMEOUT_SECONDS"]
    )
    return record(delivery, answer)


def claim(delivery_id, now):
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.next_attempt_at <= now)
        .values(next_attempt_at=now + timedelta(seconds=claim_seconds()))
    )
    db.session.commit()
    return claimed.rowcount == 1


def claim_seconds():
    # Longer than an attempt with its redirects can take.
    return (outbound.MAX_REDIRECTS + 1) * 2 * current_app.config["WEBHOOK_TIMEOUT_SECONDS"] + 10


def record(delivery, answer, give_up=False):
    now = utcnow()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status = answer.status
    took = answer.status is not None and 200 <= answer.status < 300 and answer.error is None
    delivery.last_error = None if took else (answer.error or f"Answered {answer.status}.")[:255]
    retries = current_app.config["WEBHOOK_RETRY_SECONDS"]
    if took:
        delivery.delivered_at, delivery.next_attempt_at = now, None
    elif give_up or delivery.attempts > len(retries):
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=retries[delivery.attempts - 1])
    db.session.commit()
    return took


def delivery_log(token):
    """The token's latest deliveries, newest first."""
    return db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.token_id == token.id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(LOG_LENGTH)
    ).all()
