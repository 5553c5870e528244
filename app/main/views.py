from flask import (
    after_this_request,
    current_app,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from .. import conversions, settings
from ..convert import visitor
from ..convert.forms import UploadForm
from ..decorators import mail_limited
from ..email import send_contact_message
from ..extensions import db, limiter
from ..forms import THEMES, EmptyForm, ThemeForm
from ..models import Message
from ..urls import safe_next
from . import bp
from .forms import ContactForm, ProfileForm

THEME_COOKIE = "theme"


@bp.get("/")
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
    return redirect(url_for("auth.login", **request.args), 301)


@bp.get("/register")
def register():
    return redirect(url_for("auth.register"), 301)


@bp.get("/help")
def help():
    return render_template("main/help.html")


def contact_sent(response):
    return response.status_code == 302


@bp.route("/contact", methods=["GET", "POST"])
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
    )


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
