"""Outgoing email: rendered from text and HTML templates, sent off the request thread."""

import smtplib
import threading
from datetime import timedelta

from flask import current_app, render_template
from flask_mail import Connection, Message
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from .exceptions import described, is_outage
from .extensions import db
from .models import Conversion, OutgoingMail, utcnow
from .urls import site_url_for

# Minutes before each retry of a message the server refused: about a day in all.
RETRY_MINUTES = (1, 5, 15, 60, 120, 240, 480)


def send_email(to, subject, template, **context):
    """Render one email, keep it in the outbox and send it. Failures are logged, never
    raised to the caller; a message the server refuses is retried with backoff
    (send_pending_mail). Returns True once sent, False if the first try failed (it will be
    retried), None if sending still goes on after MAIL_WAIT_SECONDS (see delivery_note)."""
    app = current_app._get_current_object()
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        return None
    msg = Message(
        subject=app.config["MAIL_SUBJECT_PREFIX"] + subject,
        recipients=recipients,
        sender=app.config["MAIL_DEFAULT_SENDER"],
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
    )
    if not app.config.get("MAIL_SERVER"):
        return _deliver(app, msg)
    mail_id = _keep(app, msg)
    if app.config["MAIL_SEND_SYNC"]:
        return _deliver(app, msg, mail_id)
    # Off the request thread, but wait a moment for the outcome: a refused connection is
    # known at once, and then the page need not claim the email was sent.
    outcome = []
    sender = threading.Thread(
        target=lambda: outcome.append(_deliver(app, msg, mail_id)), daemon=True
    )
    sender.start()
    sender.join(app.config["MAIL_WAIT_SECONDS"])
    return outcome[0] if outcome else None


def delivery_note(outcome, address):
    """A sentence for the page after send_email, true whatever happened to the email."""
    if outcome is True:
        return f"We sent it to {address}."
    if outcome is False:
        return (
            f"Our mail server could not send it to {address} just now; we will keep trying "
            "for about a day. If it does not arrive, ask for a new one."
        )
    return f"It is on its way to {address}."


CONFIRM_SUBJECT = "Confirm your email address"


def waiting_confirmations(address):
    """The confirmation links to `address` still in the outbox (not sent yet, being
    retried, or given up on), newest first. Sent mail is not kept."""
    subject = current_app.config["MAIL_SUBJECT_PREFIX"] + CONFIRM_SUBJECT
    rows = db.session.execute(
        select(
            OutgoingMail.id,
            OutgoingMail.recipients,
            OutgoingMail.attempts,
            OutgoingMail.next_attempt_at,
            OutgoingMail.claimed_until,
        )
        .where(OutgoingMail.subject == subject)
        .order_by(OutgoingMail.created_at.desc(), OutgoingMail.id.desc())
    )
    address = address.lower()
    return [row for row in rows if address in (each.lower() for each in row.recipients)]


def confirmation_delivery(address):
    """How the newest confirmation link to `address` fares, for the page that waits for
    it: "sent", "queued" (not tried yet), "retrying" or "given up"."""
    waiting = waiting_confirmations(address)
    if not waiting:
        return "sent"
    newest = waiting[0]
    if not newest.attempts:
        return "queued"
    return "retrying" if newest.next_attempt_at else "given up"


def _keep(app, msg):
    """Store the message in the outbox; its id, or None if the database refused it
    (then it is sent once, without a retry)."""
    outgoing = OutgoingMail(
        recipients=list(msg.recipients),
        sender=str(msg.sender),
        subject=msg.subject[:255],
        body=msg.body,
        html=msg.html,
        next_attempt_at=utcnow(),
    )
    try:
        db.session.add(outgoing)
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        app.logger.error(
            "Could not keep email %r in the outbox (%s); it is sent once, without retries",
            msg.subject,
            described(error),
            exc_info=not is_outage(error),
        )
        return None
    return outgoing.id


class TimedConnection(Connection):
    """Flask-Mail's connection with a timeout: a server that accepts and never answers
    costs MAIL_TIMEOUT seconds, not a thread forever."""

    def __init__(self, mail, timeout):
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self):
        server_class = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = server_class(self.mail.server, self.mail.port, timeout=self.timeout)
        try:
            host.set_debuglevel(int(self.mail.debug))
            if self.mail.use_tls:
                host.starttls()
            if self.mail.username and self.mail.password:
                host.login(self.mail.username, self.mail.password)
        except BaseException:
            host.close()
            raise
        return host


def _deliver(app, msg, mail_id=None):
    """Send one message now. With mail_id, only if no other process is sending it, and the
    outcome is recorded on its outbox row. True when sent, False when not."""
    with app.app_context():
        if not app.config.get("MAIL_SERVER"):
            # The embedded default: no mail server, so the email goes to the log in
            # full and whoever runs `make run` can follow its links.
            app.logger.warning(
                "MAIL_SERVER is not set; this email was not sent:\nTo: %s\nSubject: %s\n\n%s",
                ", ".join(msg.recipients),
                msg.subject,
                msg.body,
            )
            return True
        if mail_id is not None and not _claim(app, mail_id):
            return None
        try:
            with TimedConnection(app.extensions["mail"], app.config["MAIL_TIMEOUT"]) as connection:
                connection.send(msg)
        except Exception as error:
            attempt = _record(app, mail_id, error)
            app.logger.error(
                "Could not send email %r to %s (%s); %s",
                msg.subject,
                msg.recipients,
                _describe(error),
                f"attempt {attempt}, it will be retried"
                if attempt and attempt < app.config["MAIL_MAX_ATTEMPTS"]
                else "it will not be retried",
            )
            return False
        _record(app, mail_id)
        return True


def _claim(app, mail_id):
    now = utcnow()
    claimed = db.session.execute(
        update(OutgoingMail)
        .where(
            OutgoingMail.id == mail_id,
            # Still due: another process's batch, read before this one's failed attempt
            # set its next, must not try it again before its backoff.
            OutgoingMail.next_attempt_at <= now,
            or_(OutgoingMail.claimed_until.is_(None), OutgoingMail.claimed_until < now),
        )
        .values(claimed_until=now + timedelta(seconds=3 * app.config["MAIL_TIMEOUT"] + 10))
    )
    db.session.commit()
    return claimed.rowcount == 1


def _record(app, mail_id, error=None):
    """Write a sending attempt's outcome on the outbox row; the attempt's number."""
    if mail_id is None:
        return None
    try:
        outgoing = db.session.get(OutgoingMail, mail_id)
        if outgoing is None:  # deleted meanwhile (superseded by a new link)
            return None
        outgoing.claimed_until = None
        if error is None:
            db.session.delete(outgoing)  # sent: nothing to keep, and it may hold a link
        else:
            outgoing.attempts += 1
            outgoing.last_error = _describe(error)[:255]
            if outgoing.attempts >= app.config["MAIL_MAX_ATTEMPTS"]:
                outgoing.next_attempt_at = None  # given up; the row stays for the admins
            else:
                wait = RETRY_MINUTES[min(outgoing.attempts, len(RETRY_MINUTES)) - 1]
                outgoing.next_attempt_at = utcnow() + timedelta(minutes=wait)
        db.session.commit()
        return outgoing.attempts
    except SQLAlchemyError as error:
        db.session.rollback()
        app.logger.error(
            "Could not record the outcome of email %s (%s)",
            mail_id,
            described(error),
            exc_info=not is_outage(error),
        )
        return None


def _describe(error):
    return f"{type(error).__name__}: {error}"


def send_pending_mail():
    """Send the outbox's due messages (new ones a process left behind, and retries).
    Returns (sent, failed). Messages given up on are kept a week for the admins."""
    app = current_app._get_current_object()
    now = utcnow()
    due = db.session.scalars(
        select(OutgoingMail)
        .where(OutgoingMail.next_attempt_at <= now)
        .order_by(OutgoingMail.next_attempt_at)
        .limit(100)
    ).all()
    messages = [
        (
            outgoing.id,
            Message(
                subject=outgoing.subject,
                recipients=outgoing.recipients,
                sender=outgoing.sender,
                body=outgoing.body,
                html=outgoing.html,
            ),
        )
        for outgoing in due
    ]
    outcomes = [_deliver(app, msg, mail_id) for mail_id, msg in messages]
    given_up = OutgoingMail.next_attempt_at.is_(None)
    db.session.execute(
        delete(OutgoingMail).where(given_up, OutgoingMail.created_at < now - timedelta(days=7))
    )
    db.session.commit()
    return outcomes.count(True), outcomes.count(False)


def admin_recipients():
    """The configured admin address, or else every active admin's."""
    from .models import Permission, Role, User

    configured = current_app.config.get("ADMIN_EMAIL")
    if configured:
        return [configured]
    admins = db.session.scalars(
        select(User.email)
        .join(User.role)
        .where(User.active.is_(True), Role.permissions.op("&")(Permission.ADMIN) != 0)
    )
    return list(admins)


def send_confirmation_email(user):
    # A new link supersedes those still waiting (unless one is being sent right now): when
    # the mail server is back, one link arrives, and the page tells of the newest.
    now = utcnow()
    stale = [
        row.id
        for row in waiting_confirmations(user.email)
        if row.claimed_until is None or row.claimed_until < now
    ]
    if stale:
        db.session.execute(delete(OutgoingMail).where(OutgoingMail.id.in_(stale)))
        db.session.commit()
    token = user.make_token("confirm")
    return send_email(user.email, CONFIRM_SUBJECT, "confirm", user=user, token=token)


def send_password_reset_email(user):
    token = user.make_token("reset")
    return send_email(user.email, "Reset your password", "reset_password", user=user, token=token)


def send_change_email_email(user, new_email):
    token = user.make_token("change-email", new_email=new_email)
    return send_email(
        new_email, "Confirm your new email address", "change_email", user=user, token=token
    )


def send_account_exists_email(user, reason="register"):
    """Tell an account's owner that someone tried to use their address, instead of telling
    the person at the form whether the address has an account."""
    return send_email(
        user.email, "You already have an account", "account_exists", user=user, reason=reason
    )


def send_new_user_notice(user):
    send_email(admin_recipients(), "New registration", "new_user", user=user)


def send_account_deleted_notice(email, name):
    send_email(
        admin_recipients(),
        "Account deleted",
        "account_deleted",
        email=email,
        name=name,
        at=utcnow(),
    )


def send_contact_message(message):
    send_email(admin_recipients(), f"Contact: {message.subject}", "contact", message=message)


# A conversion that took at least this long is worth an email when it ends.
SLOW_CONVERSION = timedelta(seconds=60)


def notify_if_slow(conversion):
    """Tell the owner that a long conversion ended, if they asked (Conversion.notify)."""
    if conversion is None or not conversion.notify or conversion.user is None:
        return
    if conversion.started_at is None or conversion.finished_at is None:
        return
    if conversion.finished_at - conversion.started_at < SLOW_CONVERSION:
        return
    send_email(
        conversion.user.email,
        "Your conversion is ready"
        if conversion.status == Conversion.DONE
        else "Your conversion failed",
        "conversion_done",
        conversion=conversion,
        link=site_url_for("convert.show", public_id=conversion.public_id),
    )
