from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from .. import conversions as service  # `conversions` is a view here
from .. import quotas, reports, settings
from ..audit import ACTIONS, audit
from ..extensions import db
from ..forms import EmptyForm
from ..history import ConversionFilters, admin_page
from ..models import Conversion, Message, Role, User, utcnow
from ..tokens import revoke_token, tokens_of, user_token
from ..urls import page_number
from ..users import SORTS, AdminRuleError, delete_user, update_user, user_query
from . import bp
from .forms import (
    AuditFilterForm,
    ConversionFilterForm,
    SettingsForm,
    UserEditForm,
    UserSearchForm,
)


@bp.before_request
def require_admin():
    # The one guard for every admin view: none relies on a decorator of its own.
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not current_user.is_admin:
        abort(403)
    return None


@bp.get("/")
def dashboard():
    figures = reports.dashboard_figures(utcnow())
    recent_users, events = reports.dashboard_lists()
    return render_template(
        "admin/dashboard.html",
        figures=figures,
        recent_users=recent_users,
        events=events,
        actions=ACTIONS,
        top_users=quotas.top_users(),
    )


@bp.get("/users")
def users():
    wanted = UserSearchForm(request.args).values()
    search, sort = wanted["q"], wanted["sort"]
    query = user_query(search, sort)
    page = reports.page_of(query, page_number(), current_app.config["USERS_PER_PAGE"])
    return render_template("admin/users.html", page=page, search=search, sort=sort, sorts=SORTS)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user(user_id):
    account = db.get_or_404(User, user_id)
    form = UserEditForm.for_account(account, db.session.scalars(select(Role)))
    if form.validate_on_submit():
        save_user(account, form)
        return redirect(url_for("admin.user", user_id=user_id))
    return render_template(
        "admin/user.html",
        account=account,
        form=form,
        conversions=reports.user_conversions(account),
        events=reports.user_events(account),
        actions=ACTIONS,
        tokens=tokens_of(account),
        revoke_form=EmptyForm(),
    )


def save_user(account, form):
    """Apply the edit form, flashing what changed or why it was refused."""
    role = db.session.get(Role, form.role.data)
    try:
        changes = update_user(account, role, form.active.data, form.confirmed.data, current_user)
    except AdminRuleError as refusal:
        db.session.rollback()
        flash(str(refusal), "danger")
        return
    saved = f"Saved {account.email}: {', '.join(changes)}." if changes else "Nothing changed."
    flash(saved, "success")


@bp.post("/users/<int:user_id>/tokens/<int:token_id>/revoke")
def revoke_api_token(user_id, token_id):
    account = db.get_or_404(User, user_id)
    token = user_token(account, token_id)
    if token is None:
        abort(404)
    if EmptyForm().validate_on_submit():
        revoke_token(token)
        flash(f"Revoked {account.email}'s API token {token.name}.", "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/users/<int:user_id>/delete", methods=["GET", "POST"])
def delete_user_page(user_id):
    account = db.get_or_404(User, user_id)
    form = EmptyForm()
    if form.validate_on_submit():
        email = account.email
        try:
            delete_user(account, current_user)
        except AdminRuleError as refusal:
            db.session.rollback()
            flash(str(refusal), "danger")
            return redirect(url_for("admin.user", user_id=user_id))
        flash(f"Deleted {email} and their files.", "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/delete_user.html", account=account, form=form)


@bp.get("/audit")
def audit_log():
    wanted = AuditFilterForm(request.args).values()
    action, search = wanted["action"], wanted["q"]
    query = reports.audit_query(action, search)
    page = reports.page_of(query, page_number(), current_app.config["AUDIT_PER_PAGE"])
    return render_template(
        "admin/audit.html", page=page, action=action, search=search, actions=ACTIONS
    )


# Messages


@bp.get("/messages")
def messages():
    per_page = current_app.config["MESSAGES_PER_PAGE"]
    page = reports.page_of(reports.MESSAGES, page_number(), per_page)
    return render_template("admin/messages.html", page=page, form=EmptyForm())


@bp.post("/messages/<int:message_id>/read")
def toggle_read(message_id):
    message = db.get_or_404(Message, message_id)
    if EmptyForm().validate_on_submit():
        message.read = not message.read
        db.session.commit()
        flash(f"Marked '{message.subject}' as {'read' if message.read else 'unread'}.", "success")
    return redirect(url_for("admin.messages"))


@bp.post("/messages/<int:message_id>/delete")
def delete_message(message_id):
    message = db.get_or_404(Message, message_id)
    if EmptyForm().validate_on_submit():
        audit("message_delete", target=f"{message.email}: {message.subject}")
        db.session.delete(message)
        db.session.commit()
        flash("The message was deleted.", "success")
    return redirect(url_for("admin.messages"))


# Conversions


@bp.get("/conversions")
def conversions():
    filters = ConversionFilters(**ConversionFilterForm(request.args).values())
    per_page = current_app.config["ADMIN_CONVERSIONS_PER_PAGE"]
    page = admin_page(filters, page_number(), per_page)
    return render_template(
        "admin/conversions.html",
        page=page,
        filters=filters,
        statuses=ConversionFilterForm.STATUSES,
        output_formats=ConversionFilterForm.FORMATS,
    )


@bp.post("/conversions/<int:conversion_id>/delete")
def delete_conversion(conversion_id):
    conversion = db.get_or_404(Conversion, conversion_id)
    if EmptyForm().validate_on_submit():
        try:
            service.delete(conversion, by=current_user._get_current_object())
        except service.Busy:
            flash("That conversion is still running.", "warning")
        else:
            flash("The conversion and its files were deleted.", "success")
    return redirect(url_for("admin.conversions"))


@bp.post("/conversions/<int:conversion_id>/retry")
def retry_conversion(conversion_id):
    conversion = db.get_or_404(Conversion, conversion_id)
    if EmptyForm().validate_on_submit():
        target = f"{conversion.original_name} ({conversion.public_id})"
        try:
            service.retry(conversion)
        except service.Refused as refusal:
            flash(str(refusal), "warning")
        else:
            audit("conversion_retry", target=target)
            db.session.commit()
            flash(f"Retrying {conversion.original_name}.", "success")
    return redirect(url_for("admin.conversions"))


# Settings


@bp.route("/settings", methods=["GET", "POST"])
def site_settings():
    form = SettingsForm(data=settings.current(fresh=True) if request.method == "GET" else None)
    if form.validate_on_submit():
        changed = settings.save(form.values())
        if changed:
            audit("settings_change", target=", ".join(changed))
        db.session.commit()
        flash("Settings saved." if changed else "Nothing changed.", "success")
        return redirect(url_for("admin.site_settings"))
    return render_template("admin/settings.html", form=form)
