from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from wtforms import SelectChoice

from .. import conversions, jobs
from ..audit import audit
from ..extensions import db
from ..forms import EmptyForm
from ..models import Conversion
from ..urls import page_number
from . import bp
from .forms import OptionsForm, UploadForm


@bp.route("/convert", methods=["GET", "POST"])
def upload():
    if not conversions.may_convert():
        return render_template(
            "convert/sign_in_first.html"
        ), 403 if request.method == "POST" else 200
    form = UploadForm()
    if form.validate_on_submit():
        try:
            conversion = conversions.receive_upload(form.file.data)
        except conversions.UploadRefused as refusal:
            form.file.errors.append(str(refusal))
        else:
            if form.quick.data:
                jobs.start(conversion, conversions.quick_options(conversion))
                return redirect(url_for("convert.show", public_id=conversion.public_id))
            flash(
                f"Uploaded {conversion.original_name}. Check the preview and choose your options.",
                "success",
            )
            return redirect(url_for("convert.show", public_id=conversion.public_id))
    status = 400 if form.errors else 200
    return render_template(
        "convert/upload.html", form=form, limit=conversions.upload_limit()
    ), status


@bp.route("/convert/<public_id>", methods=["GET", "POST"])
def show(public_id):
    conversion = conversions.owned_conversion(public_id)
    form = options_form(conversion)
    if request.method == "POST":
        if conversion.status in (Conversion.QUEUED, Conversion.RUNNING):
            flash("This file is already being converted.", "info")
        elif form.validate_on_submit():
            conversions.start_conversion(conversion, form)
            return redirect(url_for("convert.show", public_id=public_id))
    sheet = request.args.get("sheet") or conversions.first_sheet_name(conversion)
    sheet_names = [s["name"] for s in conversion.info.get("sheets", [])]
    if sheet not in sheet_names:
        sheet = conversions.first_sheet_name(conversion)
    shown = conversions.sheet_preview(conversion, sheet) if sheet else None
    return render_template(
        "convert/show.html",
        conversion=conversion,
        form=form,
        delete_form=EmptyForm(),
        sheet=sheet,
        preview=shown,
        note=conversions.name_disagrees(conversion),
    ), (400 if form.errors else 200)


def options_form(conversion):
    form = OptionsForm(data=conversions.remembered_options() if request.method == "GET" else None)
    names = [s["name"] for s in conversion.info.get("sheets", [])]
    form.sheets.choices = [SelectChoice(name) for name in names]
    if request.method == "GET":
        form.sheets.data = conversion.options.get("sheets") or [
            conversions.first_sheet_name(conversion)
        ]
    return form


@bp.get("/convert/<public_id>/status")
def status(public_id):
    conversion = conversions.owned_conversion(public_id)
    return jsonify(
        status=conversion.status,
        percent=conversion.percent,
        done=conversion.progress_done,
        total=conversion.progress_total,
        error=conversion.error,
        download_url=url_for("convert.download", public_id=public_id)
        if conversion.status == Conversion.DONE
        else None,
    )


@bp.get("/convert/<public_id>/download")
def download(public_id):
    conversion = conversions.owned_conversion(public_id)
    if conversion.status != Conversion.DONE:
        abort(404)
    return jobs.storage().download(
        conversion.result_stored_name, conversion.result_name, conversions.media_type(conversion)
    )


@bp.post("/convert/<public_id>/delete")
def delete(public_id):
    conversion = conversions.owned_conversion(public_id)
    if EmptyForm().validate_on_submit():
        if conversion.status in (Conversion.QUEUED, Conversion.RUNNING):
            flash("Wait for the conversion to finish, then delete it.", "warning")
            return redirect(url_for("convert.show", public_id=public_id))
        name = conversion.original_name
        jobs.delete_conversion(conversion)
        audit("conversion_delete", target=name)
        db.session.commit()
        flash(f"Deleted {name} and its files.", "success")
    return redirect(url_for("convert.history"))


@bp.get("/history")
def history():
    page = db.paginate(
        conversions.visitor_conversions(),
        page=page_number(),
        per_page=20,
        error_out=False,
    )
    return render_template("convert/history.html", page=page, form=EmptyForm())


@bp.post("/history/end-session")
def end_session():
    if current_user.is_authenticated:
        abort(404)
    if EmptyForm().validate_on_submit():
        conversions.end_anonymous_session()
        flash("Your session has ended and your files were deleted.", "success")
    return redirect(url_for("main.index"))
