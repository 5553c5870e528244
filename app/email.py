"""Outgoing email: rendered from text and HTML templates, sent off the request thread."""

import threading

from flask import current_app, render_template
from flask_mail import Message
from sqlalchemy import select

from .extensions import db, mail


def send_email(to, subject, template, **context):
    """Render and send one email. Failures are logged, never raised to the caller."""
    app = current_app._get_current_object()
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        return
    msg = Message(
        subject=app.config["MAIL_SUBJECT_PREFIX"] + subject,
        recipients=recipients,
        sender=app.config["MAIL_DEFAULT_SENDER"],
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
    )
    if app.config["MAIL_SEND_SYNC"]:
        _deliver(app, msg)
    else:
        threading.Thread(target=_deliver, args=(app, msg), daemon=True).start()


def _deliver(app, msg):
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
            return
        try:
            mail.send(msg)
        except Exception:
            app.logger.exception("Could not send email %r to %s", msg.subject, msg.recipients)


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
    token = user.make_token("confirm")
    send_email(user.email, "Confirm your email address", "confirm", user=user, token=token)


def send_password_reset_email(user):
    token = user.make_token("reset")
    send_email(user.email, "Reset your password", "reset_password", user=user, token=token)


def send_change_email_email(user, new_email):
    token = user.make_token("change-email", new_email=new_email)
    send_email(new_email, "Confirm your new email address", "change_email", user=user, token=token)


def send_account_exists_email(user, reason="register"):
    """Tell an account's owner that someone tried to use their address, instead of telling
    the person at the form whether the address has an account."""
    send_email(
        user.email, "You already have an account", "account_exists", user=user, reason=reason
    )


def send_new_user_notice(user):
    send_email(admin_recipients(), "New registration", "new_user", user=user)


def send_contact_message(message):
    send_email(admin_recipients(), f"Contact: {message.subject}", "contact", message=message)
