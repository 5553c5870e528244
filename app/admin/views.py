from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectChoice

from .. import jobs
from ..audit import ACTIONS
from ..errors import format_size
from ..extensions import db
from ..forms import EmptyForm
from ..models import AuditEvent, Conversion, Message, Role, User, utcnow
from ..users import SORTS, AdminRuleError, delete_user, update_user, user_query
from . import bp
from .forms import UserEditForm


@bp.before_request
def require_admin():
    # The one guard for every admin view: none relies on a decorator of its own.
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not current_user.is_admin:
        abort(403)
    return None


def count(column, *where):
    return db.session.scalar(select(func.count(column)).where(*where))


@bp.get("/")
def dashboard():
    now = utcnow()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week_ago = now - timedelta(days=7)
    status = Conversion.status
    figures = [
        ("Users", count(User.id)),
        ("Confirmed", count(User.id, User.confirmed.is_(True))),
        ("New this week", count(User.id, User.created_at >= week_ago)),
        ("Conversions today", count(Conversion.id, Conversion.created_at >= day_start)),
        ("This week", count(Conversion.id, Conversion.created_at >= week_ago)),
        ("Failed", count(Conversion.id, status == Conversion.FAILED)),
        ("Running", count(Conversion.id, status == Conversion.RUNNING)),
        ("Queued", count(Conversion.id, status == Conversion.QUEUED)),
        ("Storage used", format_size(jobs.storage().usage())),
        ("Unread messages", count(Message.id, Message.read.is_(False))),
    ]
    recent_users = db.session.scalars(select(User).order_by(User.created_at.desc()).limit(10))
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.created_at.desc()).limit(10))
    return render_template(
        "admin/dashboard.html",
        figures=figures,
        recent_users=recent_users,
        events=events,
        actions=ACTIONS,
    )


@bp.get("/users")
def users():
    search = request.args.get("q", "").strip()
    sort = request.args.get("sort", "newest")
    page = db.paginate(
        user_query(search, sort),
        page=request.args.get("page", 1, type=int),
        per_page=25,
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
    )


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
    page = db.paginate(
        query, page=request.args.get("page", 1, type=int), per_page=50, error_out=False
    )
    return render_template(
        "admin/audit.html", page=page, action=action, search=search, actions=ACTIONS
    )
