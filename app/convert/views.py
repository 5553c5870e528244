from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.http import dump_options_header
from wtforms import SelectChoice

from .. import batches, conversions, visitor
from ..decorators import charge_batch, rate_limited
from ..extensions import db
from ..forms import BatchForm, EmptyForm, LazyForm, UploadForm
from ..history import delete_many, history_page, owned_among
from ..models import Conversion
from ..urls import page_number
from . import bp
from .blocks import FilePage
from .forms import DeleteSelectedForm, OptionsForm, ReadAsForm


@bp.route("/convert", methods=["GET", "POST"])
@rate_limited("UPLOAD_RATE_LIMIT", "uploads")
def upload():
    if not conversions.may_convert(visitor.owner()):
        return render_template(
            "convert/sign_in_first.html"
        ), 403 if request.method == "POST" else 200
    form = UploadForm(data={"output_format": chosen_format()})
    server_fault = None  # a refusal that is ours (5xx) keeps its status; the form's are 400
    if form.validate_on_submit():
        if batches.is_several(form.file.data):
            return received_batch(form)
        try:
            conversion = conversions.receive_upload(form.file.data[0], visitor.owner(create=True))
            if form.quick.data:
                options = conversions.quick_options(conversion, form.output_format.data)
                conversions.start(conversion, options, fresh=True)
        except conversions.Refused as refusal:
            form.file.errors.append(str(refusal))
            server_fault = refusal.status if refusal.status >= 500 else None
        else:
            visitor.remember_options(output_format=form.output_format.data)
            if not form.quick.data:
                flash(
                    f"Uploaded {conversion.original_name}. Check the preview, then convert it.",
                    "success",
                )
            return next_page(url_for("convert.show", public_id=conversion.public_id))
    return render_template(
        "convert/upload.html", form=form, limit=conversions.upload_limit(visitor.owner())
    ), server_fault or (400 if form.errors else 200)


def received_batch(form):
    """Several files (or a zip of them): a batch, converted at once with "Convert right
    away"; its page shows each file."""
    owner = visitor.owner(create=True)
    try:
        batch = batches.receive(form.file.data, owner, admit=charge_batch)
    except conversions.Refused as refusal:
        flash(str(refusal), "danger")
        return redirect(url_for("convert.upload"))
    visitor.remember_options(output_format=form.output_format.data)
    if form.quick.data:
        flash_not_started(batches.start_all(batch, form.output_format.data)[1])
    return next_page(url_for("convert.batch", public_id=batch.public_id))


@bp.get("/batches/<public_id>")
def batch(public_id):
    batch = batches.find(public_id, visitor.owner())
    form = BatchForm(data=batch.options or {"output_format": chosen_format()})
    counts, busy, ready = batches.summary(batch)
    return render_template(
        "convert/batch.html", batch=batch, form=form, counts=counts, busy=busy, ready=ready
    )


@bp.post("/batches/<public_id>/convert")
@rate_limited("CONVERT_RATE_LIMIT", "conversions")
def convert_batch(public_id):
    batch = batches.find(public_id, visitor.owner())
    form = BatchForm()
    if form.validate_on_submit():
        started, skipped = batches.start_all(batch, form.output_format.data, form.all_sheets.data)
        flash(f"Converting {started} of {len(batch.conversions)} files.", "info")
        flash_not_started(skipped)
    else:
        for field, errors in form.errors.items():
            label = form[field].label.text if field in form else field
            flash(f"{label}: {' '.join(errors)}", "danger")
    return redirect(url_for("convert.batch", public_id=public_id))


def flash_not_started(skipped):
    for name, why in skipped:
        flash(f"Not converted: {name}: {why}", "warning")


@bp.post("/batches/<public_id>/cancel")
def cancel_batch(public_id):
    """The batch page's Cancel button: every file still queued or running."""
    batch = batches.find(public_id, visitor.owner())
    if EmptyForm().validate_on_submit():
        cancelled = batches.cancel_all(batch, by=visitor.owner())
        if cancelled:
            flash(f"Cancelled {plural(cancelled, 'conversion')}.", "success")
        else:
            flash("Nothing to cancel: every file had finished.", "info")
    return redirect(url_for("convert.batch", public_id=public_id))


@bp.get("/batches/<public_id>/download")
def download_batch(public_id):
    archive, name = batches.download_all(batches.find(public_id, visitor.owner()))
    return Response(
        stream_with_context(archive),
        mimetype="application/zip",
        headers={"Content-Disposition": dump_options_header("attachment", {"filename": name})},
    )


def next_page(url):
    """A redirect; but the page's own upload script (XHR) gets the address to go to instead,
    so it neither follows the redirect nor uses up the flashed message."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return jsonify(next=url)
    return redirect(url)


def chosen_format():
    return visitor.remembered_options().get("output_format", "csv")


def owned(public_id):
    """The visitor's conversion, with its sheets read (404 for anyone else's, 410 once
    expired: see conversions.find)."""
    return conversions.find_inspected(public_id, visitor.owner())


@bp.route("/convert/<public_id>", methods=["GET", "POST"])
@rate_limited("CONVERT_RATE_LIMIT", "conversions")
def show(public_id):
    conversion = owned(public_id)
    sheet = shown_sheet(conversion)
    form = options_form(conversion, sheet)
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        visitor.remember_options(**form.remembered())
        options = form.engine_options(conversions.text_sheet_name(conversion.original_name))
        try:
            conversions.start(conversion, options, notify=form.notify.data)
        except conversions.Refused as refusal:  # the page again, its status saying why
            flash(str(refusal), "info" if refusal.status == 409 else "danger")
            status = refusal.status
        else:
            return redirect(url_for("convert.show", public_id=public_id))
    shown = conversions.sheet_preview(conversion, sheet) if sheet else None
    return render_template(
        "convert/show.html",
        conversion=conversion,
        page=FilePage.of(conversion, current_user.is_authenticated),
        form=form,
        read_as_form=read_as_form(conversion),
        sheet=sheet,
        preview=shown,
        note=conversions.name_disagrees(conversion),
    ), (400 if form.errors else status)


def shown_sheet(conversion):
    """The sheet tab asked for; else the one converted last time; else the first visible."""
    names = conversions.sheet_names(conversion)
    last = conversion.options.get("sheets") or []
    for candidate in (request.args.get("sheet"), *last[:1]):
        if candidate in names:
            return candidate
    return conversions.first_sheet_name(conversion)


def options_form(conversion, sheet):
    """The options form, filled from this file's last conversion, else from the visitor's
    last choices. The sheet shown is ticked, unless several sheets were converted last time.
    Shown (GET), it is a LazyForm: built only if the page's kept blocks miss."""
    names = conversions.sheet_names(conversion)
    input_encoding = conversion.info.get("input_encoding", "")
    detected = {name: conversion.info.get(name) for name in OptionsForm.DETECTED}
    if request.method == "POST":
        return filled(OptionsForm(), names, input_encoding, detected)
    last = OptionsForm.data_from_options(conversion.options or {})
    data = {**visitor.remembered_options(), **last}
    several = last.get("all_sheets") or len(last.get("sheets") or []) > 1
    if not several:
        data["sheets"] = [sheet] if sheet else []
    state = (repr(sorted(data.items())), tuple(names), input_encoding, repr(detected))
    return LazyForm(state, lambda: filled(OptionsForm(data=data), names, input_encoding, detected))


def filled(form, sheet_names, input_encoding, detected):
    form.sheets.choices = [SelectChoice(name) for name in sheet_names]
    form.input_encoding.data = input_encoding
    form.name_detected(detected)
    return form


def read_as_form(conversion):
    """For text files: the encoding they are read in, to change."""
    if not conversion.info.get("encoding"):
        return None
    form = ReadAsForm(prefix="read")
    form.offer(conversion.info["encoding"])
    return form


@bp.post("/convert/<public_id>/read-as")
@rate_limited("CONVERT_RATE_LIMIT", "conversions")
def read_as(public_id):
    conversion = owned(public_id)
    form = read_as_form(conversion)
    if form is None:
        abort(404)
    if form.validate_on_submit():
        try:
            conversions.read_as(conversion, form.input_encoding.data)
        except conversions.Refused as refusal:
            flash(str(refusal), "warning" if refusal.status == 409 else "danger")
        else:
            flash(f"The file is now read as {form.input_encoding.data}.", "success")
    else:
        flash("Choose an encoding from the list.", "danger")
    return redirect(url_for("convert.show", public_id=public_id))


@bp.get("/convert/<public_id>/status")
def status(public_id):
    conversion = conversions.status_of(public_id, visitor.owner())
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


@bp.post("/convert/<public_id>/cancel")
def cancel(public_id):
    """The file page's Cancel button, while its conversion is queued or running."""
    conversion = conversions.find(public_id, visitor.owner())
    if EmptyForm().validate_on_submit():
        try:
            conversions.cancel(conversion, by=visitor.owner())
        except conversions.AlreadyEnded as refusal:
            flash(str(refusal), "info")
        else:
            flash(f"Cancelled {conversion.original_name}.", "success")
    return redirect(url_for("convert.show", public_id=public_id))


@bp.get("/convert/<public_id>/download")
def download(public_id):
    return conversions.result_download(conversions.find(public_id, visitor.owner()))


@bp.route("/convert/<public_id>/delete", methods=["GET", "POST"])
def delete(public_id):
    conversion = conversions.find(public_id, visitor.owner())
    if request.method == "GET":
        return render_template("convert/delete.html", conversion=conversion, form=EmptyForm())
    if EmptyForm().validate_on_submit():
        name = conversion.original_name
        try:
            conversions.delete(conversion, by=visitor.owner())
        except conversions.Busy as refusal:
            flash(str(refusal), "warning")
            return redirect(url_for("convert.show", public_id=public_id))
        flash(f"Deleted {name} and its files.", "success")
    return redirect(url_for("convert.history"))


@bp.get("/history")
def history():
    owner = visitor.owner()
    page = history_page(owner, page_number(), current_app.config["CONVERSIONS_PER_PAGE"])
    use = conversions.storage_use(owner) if page.total else None
    return render_template("convert/history.html", page=page, use=use)


@bp.post("/history/delete")
def delete_selected():
    """Delete the conversions ticked in History, after a page that names them."""
    form = DeleteSelectedForm()
    if not form.validate_on_submit():
        flash(" ".join(form.chosen.errors) or "The form expired. Please try again.", "warning")
        return redirect(url_for("convert.history"))
    chosen = owned_among(form.chosen.data, visitor.owner())
    if not form.confirmed.data:
        return render_template("convert/delete_selected.html", chosen=chosen, form=form)
    deleted, busy = delete_many(chosen, by=visitor.owner())
    flash(deleted_note(deleted, busy), "success" if deleted else "warning")
    return redirect(url_for("convert.history"))


def deleted_note(deleted, busy):
    files = "its files" if deleted == 1 else "their files"
    said = [f"Deleted {plural(deleted, 'conversion')} and {files}."] if deleted else []
    if busy:
        said.append(f"Kept {plural(busy, 'conversion')} still under way: delete once finished.")
    return " ".join(said) or "Nothing to delete: those conversions are gone already."


def plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


@bp.route("/history/end-session", methods=["GET", "POST"])
def end_session():
    if current_user.is_authenticated:
        abort(404)
    if request.method == "GET":
        count = db.session.scalar(
            select(func.count()).select_from(conversions.listing(visitor.owner()).subquery())
        )
        return render_template("convert/end_session.html", count=count, form=EmptyForm())
    if EmptyForm().validate_on_submit():
        conversions.delete_all(visitor.owner())  # a job still running deletes its result
        batches.delete_all(visitor.owner())
        db.session.commit()
        session.clear()
        flash("Your session has ended and your files were deleted.", "success")
    return redirect(url_for("main.index"))
