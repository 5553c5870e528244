from datetime import timedelta

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from ..extensions import db
from ..models import Message, User, utcnow
from . import bp


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
    week_ago = utcnow() - timedelta(days=7)
    figures = {
        "users": count(User.id),
        "confirmed": count(User.id, User.confirmed.is_(True)),
        "new_this_week": count(User.id, User.created_at >= week_ago),
        "unread_messages": count(Message.id, Message.read.is_(False)),
    }
    recent_users = db.session.scalars(select(User).order_by(User.created_at.desc()).limit(10))
    return render_template("admin/dashboard.html", figures=figures, recent_users=recent_users)
