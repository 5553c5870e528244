import threading
from datetime import timedelta

from cachetools import TTLCache
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import bindparam, func, select, true
from wtforms import SelectChoice

from .. import conversions as service  # `conversions` is a view here
from .. import quotas, settings, storage
from ..audit import ACTIONS, audit
from ..exceptions import described
from ..extensions import db
from ..forms import EmptyForm
from ..history import admin_page
from ..models import AuditEvent, Conversion, Message, Role, User, utcnow
from ..sizes import format_size
from ..tokens import revoke_token, tokens_of, user_token
from ..urls import page_number
from ..users import SORTS, AdminRuleError, ConversionFilters, delete_user, update_user, user_query
from . import bp
from .forms import SettingsForm, UserEditForm


@bp.before_request
def require_admin():
    # The one guard for every admin view: none relies on a decorator of its own.
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not current_user.is_admin:
        abort(403)
    return None


def counts(column, **where):
    """A statement counting the rows that have `column` set: in all (`all`), and under each
    condition (named as given), in one query."""
    figures = [func.count(column).label("all")]
    figures += [
        func.count(column).filter(condition).label(name) for name, condition in where.items()
    ]
    return select(*figures)


# The dashboard's queries, built once (SQLAlchemy then reuses their compiled form): the
# page is three counts (in one query), two short lists and the storage figure.
DAY_START, WEEK_AGO = bindparam("day_start"), bindparam("week_ago")
USER_COUNTS = counts(User.id, confirmed=User.confirmed.is_(True), new=User.created_at >= WEEK_AGO)
CONVERSION_COUNTS = counts(
    Conversion.id,
    today=Conversion.created_at >= DAY_START,
    week=Conversion.created_at >= WEEK_AGO,
    failed=Conversion.status == Conversion.FAILED,
    running=Conversion.status == Conversion.RUNNING,
    queued=Conversion.status == Conversion.QUEUED,
)
MESSAGE_COUNTS = counts(Message.id, unread=Message.read.is_(False))


def side_by_side(**statements):
    """One-row statements as one query (one round trip), their columns named
    `<name>_<column>`."""
    parts = [statement.subquery(name) for name, statement in statements.items()]
    columns = [column.label(f"{part.name}_{column.name}") for part in parts for column in part.c]
    query = select(*columns).select_from(parts[0])
    for part in parts[1:]:
        query = query.join(part, true())
    return query


FIGURES = side_by_side(users=USER_COUNTS, conversions=CONVERSION_COUNTS, messages=MESSAGE_COUNTS)
NEWEST_USERS = (
    select(User.id, User.email, User.created_at, User.last_seen_at)
    .order_by(User.created_at.desc(), User.id.desc())
    .limit(10)
)
RECENT_EVENTS = select(AuditEvent).order_by(AuditEvent.created_at.desc()).limit(10)


def dashboard_figures(now):
    """The dashboard's (label, value) figures."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    when = {"day_start": day_start, "week_ago": now - timedelta(days=7)}
    found = db.session.execute(FIGURES, when).one()
    return [
        ("Users", found.users_all),
        ("Confirmed", found.users_confirmed),
        ("New this week", found.users_new),
        ("Conversions today", found.conversions_today),
        ("This week", found.conversions_week),
        ("Failed", found.conversions_failed),
        ("Running", found.conversions_running),
        ("Queued", found.conversions_queued),
        ("Storage used", storage_used()),
        ("Unread messages", found.messages_unread),
    ]


# Measuring storage lists every stored file (or the whole bucket, over the network): done
# at most once a minute per process and place, not on every view of the dashboard.
STORAGE_USED = TTLCache(maxsize=8, ttl=60)
STORAGE_USED_LOCK = threading.Lock()


def storage_used():
    place = current_app.config.get("STORAGE_URL") or current_app.config["UPLOAD_FOLDER"]
    with STORAGE_USED_LOCK:
        used = STORAGE_USED.get(place)
    if used is None:
        try:
            used = storage.current().usage()
        except storage.StorageUnavailable as error:
            current_app.logger.error(
                "Storage unavailable: the admin dashboard could not measure it (%s)",
                described(error.__cause__ or error),
            )
            return "unavailable just now"
        with STORAGE_USED_LOCK:
            STORAGE_USED[place] = used
    return format_size(used)


@bp.get("/")
def dashboard():
    figures = dashboard_figures(utcnow())
    recent_users = db.session.execute(NEWEST_USERS)
    events = db.session.scalars(RECENT_EVENTS)
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
    search = request.args.get("q", "").strip()
    sort = request.args.get("sort", "newest")
    page = db.paginate(
        user_query(search, sort),
        page=page_number(),
        per_page=current_app.config["USERS_PER_PAGE"],
        error_out=False,
    )
    return render_template("admin/users.html", page=page, search=search, sort=sort, sorts=SORTS)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user(user_id):
    account = db.get_or_404(User, user_id)
    form = UserEditForm(obj=account, role=account.role_id)
    form.role.choices = [
        SelectChoice(role.id, role.name) for role in db.session.scalars(select(Role))
    ]
    if form.validate_on_submit():
        try:
            changes = update_user(
                account,
                db.session.get(Role, form.role.data),
                form.active.data,
                form.confirmed.data,
                current_user,
            )
        except AdminRuleError as refusal:
            db.session.rollback()
            flash(str(refusal), "danger")
        else:
            flash(
                f"Saved {account.email}: {', '.join(changes)}." if changes else "Nothing changed.",
                "success",
            )
        return redirect(url_for("admin.user", user_id=user_id))
    conversions = db.session.scalars(
        select(Conversion)
        .where(Conversion.user_id == user_id)
        .order_by(Conversion.created_at.desc())
        .limit(20)
    )
    events = db.session.scalars(
        select(AuditEvent)
        .where((AuditEvent.actor_id == user_id) | (AuditEvent.target.like(f"{account.email}%")))
        .order_by(AuditEvent.created_at.desc())
        .limit(20)
    )
    return render_template(
        "admin/user.html",
        account=account,
        form=form,
        conversions=conversions,
        events=events,
        actions=ACTIONS,
        tokens=tokens_of(account),
        revoke_form=EmptyForm(),
    )


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
    action = request.args.get("action", "")
    search = request.args.get("q", "").strip()
    query = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if action in ACTIONS:
        query = query.where(AuditEvent.action == action)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(
            func.lower(AuditEvent.target).like(pattern)
            | func.lower(AuditEvent.actor_email).like(pattern)
        )
    page = db.paginate(query, page=page_number(), per_page=50, error_out=False)
    return render_template(
        "admin/audit.html", page=page, action=action, search=search, actions=ACTIONS
    )


# Messages


@bp.get("/messages")
def messages():
    query = select(Message).order_by(Message.read.asc(), Message.created_at.desc())
    page = db.paginate(query, page=page_number(), per_page=25, error_out=False)
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
    filters = ConversionFilters(request.args)
    page = admin_page(filters, page_number(), per_page=25)
    return render_template("admin/conversions.html", page=page, filters=filters)


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
