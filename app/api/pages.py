"""Pages for people: the API guide (/api) and the token section of the profile page."""

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from flask import abort, current_app, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required

from ..forms import EmptyForm
from ..models import utcnow
from ..sheets import OUTPUT_FORMATS
from ..tokens import api_refusal, create_token, revoke_token, tokens_of, user_token
from . import web
from .forms import TokenForm


@web.get("/api")
def docs():
    example = Path(current_app.static_folder, "api", "example.py").read_text()
    return render_template("api/docs.html", example=example, output_formats=OUTPUT_FORMATS)


@web.post("/profile/tokens")
@login_required
def create():
    refusal = api_refusal(current_user)
    if refusal:
        abort(403, refusal)
    form = TokenForm()
    if form.validate_on_submit():
        days = form.expires_in_days.data
        expires_at = utcnow() + timedelta(days=days) if days else None
        token, secret = create_token(current_user, form.name.data.strip(), expires_at)
        # Post/Redirect/Get: the secret crosses the redirect in the session, sealed (the
        # cookie is signed but readable), and leaves it on the page that shows it once.
        session["new_api_token"] = {"id": token.id, "sealed": seal(secret)}
        flash(
            f"Created the token {token.name}. Copy it now: it will not be shown again.", "success"
        )
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(error, "danger")
    return redirect(url_for("main.profile", _anchor="api-tokens"), 303)


def sealer():
    """Fernet with a key of its own derived from SECRET_KEY."""
    digest = hashlib.sha256(b"sheetport new API token\0" + current_app.secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(digest.digest()))


def seal(secret):
    return sealer().encrypt(secret.encode()).decode()


def unseal(sealed, max_age=600):
    """The secret, or None when it cannot be read (another key, or older than max_age)."""
    try:
        return sealer().decrypt(str(sealed).encode(), ttl=max_age).decode()
    except InvalidToken:
        return None


def new_token_shown():
    """The new token waiting in the session, taken out of it as it is shown."""
    new = session.pop("new_api_token", None)
    if not isinstance(new, dict):
        return None
    return {"id": new.get("id"), "secret": unseal(new.get("sealed"))}


@web.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id):
    token = user_token(current_user, token_id)
    if token is None:
        abort(404)
    if EmptyForm().validate_on_submit():
        revoke_token(token)
        flash(f"Revoked the token {token.name}.", "success")
    return redirect(url_for("main.profile", _anchor="api-tokens"))


@web.app_context_processor
def token_helpers():
    def api_tokens():
        """For templates/main/_api_tokens.html: the visitor's tokens, the form, and a new
        token's secret, which leaves the session as it is shown."""
        if not current_user.is_authenticated:
            return None
        return {
            "tokens": tokens_of(current_user),
            "form": TokenForm(),
            "revoke_form": EmptyForm(),
            "refusal": api_refusal(current_user),
            "new": new_token_shown(),
        }

    return {"api_tokens": api_tokens}
