"""Pages for people: the API guide (/api) and the token section of the profile page."""

from datetime import timedelta
from pathlib import Path

from flask import abort, current_app, flash, g, make_response, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..forms import EmptyForm
from ..main.views import profile
from ..models import utcnow
from . import web
from .auth import api_refusal, create_token, revoke_token, tokens_of, user_token
from .forms import TokenForm


@web.get("/api")
def docs():
    example = Path(current_app.static_folder, "api", "example.py").read_text()
    return render_template("api/docs.html", example=example)


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
        # Shown once, in this answer (not through the session cookie, which is signed but
        # readable, nor a redirect); only its hash is stored.
        g.new_api_token = {"id": token.id, "secret": secret}
        flash(
            f"Created the token {token.name}. Copy it now: it will not be shown again.", "success"
        )
        response = make_response(profile())
        response.headers["Cache-Control"] = "no-store"
        return response
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(error, "danger")
    return redirect(url_for("main.profile", _anchor="api-tokens"))


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
            "new": g.pop("new_api_token", None),
        }

    return {"api_tokens": api_tokens}
