from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from .. import batches, conversions, visitor
from ..audit import audit
from ..decorators import form_email, mail_limited, open_to_unconfirmed, own_email
from ..email import (
    confirmation_delivery,
    delivery_note,
    send_account_exists_email,
    send_change_email_email,
    send_confirmation_email,
    send_new_user_notice,
    send_password_reset_email,
)
from ..extensions import db, limiter
from ..forms import EmptyForm
from ..models import ApiToken, AuditEvent, LoginSession, User, authenticate, new_session_token
from ..urls import safe_next
from ..users import AdminRuleError, delete_own_account, register_account
from . import bp
from .forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    DeleteAccountForm,
    LoginForm,
    PasswordResetForm,
    PasswordResetRequestForm,
    RegistrationForm,
)

# Pages an unconfirmed user may still see that are no views of ours; ours say so themselves
# (decorators.open_to_unconfirmed).
OPEN_TO_UNCONFIRMED = {"static", "api-docs.openapi_json"}


@bp.before_app_request
def track_and_gate_user():
    user = current_user._get_current_object()  # one proxy lookup, not six
    if not user.is_authenticated:
        return None
    touched = user.ping()
    if user.login_session is not None:
        touched = user.login_session.ping() or touched
    if touched:
        db.session.commit()
    if (
        not user.confirmed
        and request.blueprint not in ("auth", "convert", "api")  # anyone may convert; API: token
        and request.endpoint not in OPEN_TO_UNCONFIRMED
        and not getattr(
            current_app.view_functions.get(request.endpoint), "open_to_unconfirmed", False
        )
    ):
        return redirect(url_for("auth.unconfirmed"))
    return None


def start_session(user, remember=False):
    # A fresh session at login: nothing from before it carries over (no fixation), but
    # what the visitor converted in this browser moves into the account.
    anonymous_key = visitor.anonymous_key()
    session.clear()
    user.login_token = LoginSession.open(
        user, remember, request.user_agent.string, request.remote_addr
    )
    moved = conversions.adopt(anonymous_key, user)
    batches.adopt(anonymous_key, user)  # and the batches they were uploaded in
    if moved:
        audit("visitor_files_moved", target=f"{user.email}: {moved} conversion(s)", actor=user)
    db.session.commit()
    login_user(user, remember=remember)
    if moved:
        kept = "Your conversion" if moved == 1 else f"Your {moved} conversions"
        flash(
            f"{kept} from before you signed in {'is' if moved == 1 else 'are'} in History now.",
            "info",
        )


def end_session():
    # Clear first: logout_user() leaves in the session the instruction to delete the
    # remember-me cookie, which a clear afterwards would wipe.
    session.clear()
    logout_user()


def has_signed_in_before(user):
    return (
        db.session.scalar(
            select(AuditEvent.id)
            .where(AuditEvent.action == "login", AuditEvent.actor_id == user.id)
            .limit(1)
        )
        is not None
    )


def login_failed(response):
    return response.status_code != 302


def account_key():
    return "account:" + User.normalise_email(request.form.get("email"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"],
    methods=["POST"],
    deduct_when=login_failed,
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    methods=["POST"],
    key_func=account_key,
    deduct_when=login_failed,
)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is None or not user.active:
            audit("login_failed", target=User.normalise_email(form.email.data), actor=None)
            db.session.commit()
        if user is None:
            form.password.errors.append("Wrong email or password.")
        elif not user.active:
            form.email.errors.append("This account has been disabled. Contact us for help.")
        else:
            greeting = "Welcome back" if has_signed_in_before(user) else "Welcome"
            audit("login", target=user.email, actor=user)
            db.session.commit()
            start_session(user, remember=form.remember_me.data)
            flash(f"{greeting}, {user.display_name}.", "success")
            return redirect(safe_next(request.args.get("next"), url_for("main.index")))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    if EmptyForm().validate_on_submit():
        audit("logout", target=current_user.email)
        if current_user.login_session is not None:
            current_user.login_session.end()  # copies of the cookie die too
        db.session.commit()
        end_session()
        flash("You have been logged out.", "info")
    return redirect(url_for("main.index"))


@bp.post("/logout-everywhere")
@login_required
def logout_everywhere():
    if EmptyForm().validate_on_submit():
        audit("logout_everywhere", target=current_user.email)
        LoginSession.end_all(current_user)
        db.session.commit()
        end_session()
        flash("You have been logged out on every device.", "info")
    return redirect(url_for("main.index"))


@bp.post("/sessions/<int:session_id>/end")
@login_required
def end_other_session(session_id):
    other = db.session.get(LoginSession, session_id)
    if other is None or other.user_id != current_user.id:
        abort(404)
    if EmptyForm().validate_on_submit():
        db.session.delete(other)
        db.session.commit()
        flash("That session has been logged out.", "info")
    return redirect(url_for("main.profile"))


@bp.route("/register", methods=["GET", "POST"])
@mail_limited(mailbox=form_email)
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegistrationForm()
    if form.validate_on_submit():
        user, created = register_account(form.name.data, form.email.data, form.password.data)
        if created:
            outcome = send_confirmation_email(user)
            send_new_user_notice(user)
        else:
            outcome = send_account_exists_email(user)
        # The same answer either way (an email goes to the address in both cases), so the
        # form does not reveal who has an account.
        note = delivery_note(outcome, form.email.data)
        flash(f"Thank you. Open the link in our email, then log in. {note}", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/register.html", form=form)


@bp.get("/confirm/<token>")
def confirm(token):
    user, _ = User.from_token("confirm", token, current_app.config["CONFIRM_TOKEN_MAX_AGE"])
    if user is None:
        flash("This confirmation link is invalid or has expired.", "danger")
        return redirect(
            url_for("auth.unconfirmed" if current_user.is_authenticated else "auth.login")
        )
    if not user.confirmed:
        user.confirmed = True
        db.session.commit()
    flash("Your email address is confirmed. Thank you!", "success")
    return redirect(url_for("main.index" if current_user.is_authenticated else "auth.login"))


@bp.get("/unconfirmed")
def unconfirmed():
    if current_user.is_anonymous or current_user.confirmed:
        return redirect(url_for("main.index"))
    delivery = confirmation_delivery(current_user.email)
    return render_template("auth/unconfirmed.html", form=EmptyForm(), delivery=delivery)


@bp.post("/confirm")
@login_required
@mail_limited(mailbox=own_email)
def resend_confirmation():
    if EmptyForm().validate_on_submit() and not current_user.confirmed:
        outcome = send_confirmation_email(current_user)
        note = delivery_note(outcome, current_user.email)
        flash(f"A new confirmation link: {note}", "info")
    return redirect(url_for("auth.unconfirmed"))


@bp.route("/change-password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        remembered = current_user.login_session is not None and current_user.login_session.remember
        current_user.set_password(form.password.data)  # ends every session, this one too
        audit("password_change", target=current_user.email)
        db.session.commit()
        start_session(current_user, remember=remembered)  # ...so start a new one here
        flash("Your password has been changed. Any other sessions were logged out.", "success")
        return redirect(url_for("main.profile"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/delete-account", methods=["GET", "POST"])
@login_required
@open_to_unconfirmed
def delete_account():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            delete_own_account(current_user._get_current_object())
        except AdminRuleError as refusal:
            flash(str(refusal), "danger")
            return redirect(url_for("main.profile"))
        end_session()
        flash("Your account and all your files were deleted.", "success")
        return redirect(url_for("main.index"))
    return render_template("auth/delete_account.html", form=form)


@bp.route("/reset", methods=["GET", "POST"])
@mail_limited(mailbox=form_email)
def password_reset_request():
    form = PasswordResetRequestForm()
    if form.validate_on_submit():
        user = User.by_email(form.email.data)
        if user is not None and user.active:
            send_password_reset_email(user)
        # The same answer either way, so the form does not reveal who has an account.
        flash(
            # Nothing about delivery: it would tell who has an account. Unsent mail is
            # kept and retried, so "on its way" is true whenever there is an account.
            f"If an account exists for {form.email.data}, a link to reset the password is on "
            "its way. The link works for one hour.",
            "info",
        )
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def password_reset(token):
    user, _ = User.from_token("reset", token, current_app.config["RESET_TOKEN_MAX_AGE"])
    if user is None or not user.active:
        flash("This reset link is invalid or has expired. Please ask for a new one.", "danger")
        return redirect(url_for("auth.password_reset_request"))
    form = PasswordResetForm()
    if form.validate_on_submit():
        user.set_password(form.password.data)  # also voids this link and other sessions
        # Whoever made the reset may be taking back a stolen account: the thief's tokens go too.
        ApiToken.revoke_all(user)
        user.confirmed = True  # the link proved the address works
        audit("password_reset", target=user.email, actor=user)
        db.session.commit()
        end_session()
        flash("Your password has been reset. Please log in with the new one.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form)


@bp.route("/change-email", methods=["GET", "POST"])
@login_required
@mail_limited(mailbox=form_email)
def change_email_request():
    form = ChangeEmailForm()
    if form.validate_on_submit():
        owner = User.by_email(form.email.data)
        if owner is None:
            outcome = send_change_email_email(current_user, form.email.data)
        else:  # the same answer either way; the address's owner hears of it
            outcome = send_account_exists_email(owner, reason="change-email")
        note = delivery_note(outcome, form.email.data)
        flash(f"Your address changes when you open the link in our email. {note}", "info")
        return redirect(url_for("main.profile"))
    return render_template("auth/change_email.html", form=form)


@bp.get("/change-email/<token>")
@login_required
def change_email(token):
    user, payload = User.from_token(
        "change-email", token, current_app.config["CONFIRM_TOKEN_MAX_AGE"]
    )
    if user is None or user.id != current_user.id:
        flash("This link is invalid or has expired.", "danger")
    elif User.by_email(payload["new_email"]) not in (None, user):
        flash("An account with that email address already exists.", "danger")
    else:
        audit("email_change", target=f"{user.email} -> {payload['new_email']}")
        user.email = payload["new_email"]
        user.session_token = new_session_token()  # links sent to the old address stop working
        user.confirmed = True
        db.session.commit()
        flash(f"Your email address is now {user.email}.", "success")
    return redirect(url_for("main.profile"))
