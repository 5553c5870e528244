from datetime import timedelta

from flask import render_template, request, url_for
from flask import abort, redirect
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


@bp.get("/")
def dashboard():
    week_ago = utcnow() - timedelta(days=7)
    count = lambda *where: db.session.scalar(select(func.count(User.id)).where(*where))  # noqa: E731
    figures = {
        "users": count(),
        "confirmed": count(User.confirmed.is_(True)),
        "new_this_week": count(User.created_at >= week_ago),
        "unread_messages": db.session.scalar(
            select(func.count(Message.id)).where(Message.read.is_(False))
        ),
    }
    recent_users = db.session.scalars(select(User).order_by(User.created_at.desc()).limit(10))
    return render_template("admin/dashboard.html", figures=figures, recent_users=recent_users)
