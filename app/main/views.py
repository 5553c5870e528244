from datetime import timedelta

from flask import (
    abort,
    after_this_request,
    current_app,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required

from .. import conversions, settings, tokens, visitor
from ..decorators import mail_limited, open_to_unconfirmed
from ..email import send_contact_message
from ..extensions import db, limiter
from ..forms import THEMES, EmptyForm, ThemeForm, UploadForm
from ..models import Message, utcnow
from ..sheets import formats
from ..urls import safe_next
from . import bp
from .forms import ContactForm, ProfileForm, TokenForm

THEME_COOKIE = "theme"


@bp.get("/")
@open_to_unconfirmed
def index():
    owner = visitor.owner()
    if not conversions.may_convert(owner):
        return render_template("main/index.html", form=None)
    form = UploadForm(
        data={"output_format": visitor.remembered_options().get("output_format", "csv")}
    )
    return render_template("main/index.html", form=form, limit=conversions.upload_limit(owner))


# People type these; the pages live under /auth.
@bp.get("/login")
def login():
    # Only `next` carries over: any other argument (`_scheme`, `_external`...) would
    # steer url_for itself.
    target = request.args.get("next")
    return redirect(url_for("auth.login", next=target) if target else url_for("auth.login"), 301)


@bp.get("/register")
def register():
    return redirect(url_for("auth.register"), 301)


@bp.get("/help")
@open_to_unconfirmed
def help():
    return render_template(
        "main/help.html", inputs=formats.input_families(), outputs=formats.OUTPUTS.values()
    )


def contact_sent(response):
    return response.status_code == 302


@bp.route("/contact", methods=["GET", "POST"])
@open_to_unconfirmed
@limiter.limit(
    lambda: current_app.config["CONTACT_LIMIT"], methods=["POST"], deduct_when=contact_sent
)
@mail_limited()  # to the admins: no per-mailbox limit, or anyone could silence the form
def contact():
    form = ContactForm()
    if request.method == "GET" and current_user.is_authenticated:
        form.name.data = form.name.data or current_user.name
        form.email.data = form.email.data or current_user.email
    if form.validate_on_submit():
        message = Message(
            name=form.name.data.strip(),
            email=form.email.data.strip(),
            subject=form.subject.data.strip(),
            body=form.message.data.strip(),
            user=current_user if current_user.is_authenticated else None,
        )
        db.session.add(message)
        db.session.commit()
        send_contact_message(message)
        flash("Thank you, your message was sent. We will reply by email.", "success")
        return redirect(url_for("main.contact"))
    return render_template("main/contact.html", form=form)


@bp.get("/profile")
@login_required
def profile():
    return render_template(
        "main/profile.html",
        user=current_user,
        login_sessions=current_user.login_sessions_newest_first(),
        form=EmptyForm(),
        api_tokens=token_section(),
    )


def token_section():
    """For templates/main/_api_tokens.html: the user's tokens, the forms, and a new token's
    secret, which leaves the session as it is shown."""
    new = session.pop("new_api_token", None)
    return {
        "tokens": tokens.tokens_of(current_user),
        "form": TokenForm(),
        "revoke_form": EmptyForm(),
        "refusal": tokens.api_refusal(current_user),
        "new": {"id": new.get("id"), "secret": tokens.unseal(new.get("sealed"))}
        if isinstance(new, dict)
        else None,
    }


@bp.post("/profile/tokens")
@login_required
def create_token():
    refusal = tokens.api_refusal(current_user)
    if refusal:
        abort(403, refusal)
    form = TokenForm()
    if form.validate_on_submit():
        days = form.expires_in_days.data
        expires_at = utcnow() + timedelta(days=days) if days else None
        token, secret = tokens.create_token(current_user, form.name.data.strip(), expires_at)
        # Post/Redirect/Get: the secret crosses the redirect in the session, sealed, and
        # leaves it on the page that shows it once.
        session["new_api_token"] = {"id": token.id, "sealed": tokens.seal(secret)}
        flash(
            f"Created the token {token.name}. Copy it now: it will not be shown again.", "success"
        )
    else:
        for error in (e for errors in form.errors.values() for e in errors):
            flash(error, "danger")
    return redirect(url_for("main.profile", _anchor="api-tokens"), 303)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id):
    token = tokens.user_token(current_user, token_id)
    if token is None:
        abort(404)
    if EmptyForm().validate_on_submit():
        tokens.revoke_token(token)
        flash(f"Revoked the token {token.name}.", "success")
    return redirect(url_for("main.profile", _anchor="api-tokens"))


@bp.route("/profile/edit", methods=["GET", "POST"])
@login_required
def edit_profile():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        current_user.name = form.name.data.strip()
        db.session.commit()
        flash("Your profile has been updated.", "success")
        return redirect(url_for("main.profile"))
    return render_template("main/edit_profile.html", form=form)


@bp.post("/theme")
@open_to_unconfirmed
def set_theme():
    form = ThemeForm()
    if form.validate_on_submit():
        theme = form.theme.data

        @after_this_request
        def remember_theme(response):
            response.set_cookie(
                THEME_COOKIE,
                theme,
                max_age=365 * 24 * 3600,
                httponly=True,
                samesite="Lax",
                secure=current_app.config["SESSION_COOKIE_SECURE"],
            )
            return response

    return redirect(safe_next(form.next.data, url_for("main.index")))


@bp.app_context_processor
def inject_theme_and_settings():
    if not has_request_context():  # an email rendered by a background job
        return {}
    theme = request.cookies.get(THEME_COOKIE)
    return {"theme": theme if theme in THEMES else "auto", "site": settings.current()}
