"""The API's operations. Thin: parse (flask-smorest validates against the schemas the
OpenAPI document shows), call the same service functions as the web, answer."""

from functools import wraps
from http import HTTPStatus

from flask import abort, current_app, g, request, url_for
from marshmallow import fields as ma_fields
from werkzeug.exceptions import UnprocessableEntity

from .. import conversions, settings, url_import, webhooks
from ..decorators import rate_limited
from ..extensions import db
from ..models import Conversion
from ..sheets.formats import INPUTS, OUTPUTS
from ..sheets.formats import MEDIA_TYPES as RESULT_TYPES
from ..tokens import api_refusal
from . import bp
from .auth import auth, current_owner
from .schemas import (
    ConversionListSchema,
    ConversionSchema,
    ConvertOptionsSchema,
    FormatsSchema,
    MeSchema,
    OptionsSchema,
    PageQuerySchema,
    PreviewQuerySchema,
    PreviewSchema,
    StartOptionsSchema,
    UploadSchema,
    WebhookSchema,
    WebhookSecretSchema,
    WebhookSettingSchema,
)

MB = 1024 * 1024
URL_IMPORT_DOC = (
    "Send the file in the multipart field `file`, or an http(s) URL in the field `url` for "
    "Sheetport to fetch it from (only if the site allows URL import from that host: else "
    "422). A fetched file meets the same limits as an upload (413 past the upload limit, "
    "checked while it arrives); 502 when the URL answers other than 2xx or the connection "
    "fails, 504 when it does not arrive within the site's time limit."
)


@bp.before_request
@auth.login_required
def require_api_access():
    if request.method == "OPTIONS":  # a CORS preflight carries no token
        return
    refusal = api_refusal(current_owner())
    if refusal:
        abort(403, refusal)


def answers(*codes):
    """Document the error statuses an operation can answer (400, 401, 403 and 429 always:
    a NUL anywhere in a request is a 400 before any view, see app/security.py)."""

    def decorator(view):
        for code in sorted({400, 401, 403, 429, *codes}, reverse=True):
            view = bp.alt_response(code, response=HTTPStatus(code).name)(view)
        return view

    return decorator


def multipart(view):
    """415 before parsing when the upload is not multipart/form-data; 422 naming any field
    beside the file or url (options sent as form fields would be ignored: they go in the
    query)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if request.mimetype != "multipart/form-data":
            abort(
                415,
                "Send the file as multipart/form-data, in a field named 'file' "
                "(or a field 'url' to fetch it from).",
            )
        names = sorted(set(request.form) - {"url"})
        # Without a file or url, their absence is the problem (UploadSchema says so).
        if names and (request.files or "url" in request.form):
            refusal = UnprocessableEntity(
                f"Only the file (or url) goes in the form; options go in the query string "
                f"(?{names[0]}=...): {', '.join(names)}."
            )
            where = "Not a form field: send it in the query string."
            refusal.data = {"messages": {"form": {name: [where] for name in names}}}
            raise refusal
        return view(*args, **kwargs)

    return wrapped


def file_response_doc(description):
    content = {media: {"schema": {"type": "string", "format": "binary"}} for media in RESULT_TYPES}
    content["application/json"] = {"schema": {}}  # a JSON result is JSON (any value), not bytes
    return {"responses": {"200": {"description": description, "content": content}}}


# --- one-shot ---------------------------------------------------------------------------


@bp.post("/convert")
@bp.doc(
    summary="Convert a file in one request",
    description="Answers with the converted file. An upload larger than the one-shot limit "
    "(see /me), or one that takes longer than the wait limit, answers 202 with a Location "
    "to poll instead. " + URL_IMPORT_DOC,
    **file_response_doc("The converted file."),
)
@bp.alt_response(202, schema=ConversionSchema, description="Too large or slow: poll Location.")
@answers(400, 409, 410, 413, 415, 422, 500, 502, 503, 504, 507)
@rate_limited("UPLOAD_RATE_LIMIT", "uploads")
@multipart
@bp.arguments(ConvertOptionsSchema, location="query")
@bp.arguments(UploadSchema, location="files")
def convert_now(options, upload):
    callback = callback_of(options)  # refused before anything is kept
    # The job reads the file (and checks its sheets) anyway: no separate look inside first.
    conversion = receive(upload, look_inside=False)
    job = start(conversion, options, fresh=True, callback=callback)
    config = current_app.config
    if conversion.size > config["API_ONE_SHOT_MAX_MB"] * MB or not conversions.wait_for_job(
        conversion, config["API_ONE_SHOT_WAIT_SECONDS"], job
    ):
        return accepted(conversion, dump=True)
    if conversion.status == Conversion.FAILED:
        error = conversion.error
        conversions.remove(conversion)  # nothing of a refused one-shot is kept
        db.session.commit()
        raise conversions.JobFailed(error)
    return conversions.result_download(conversion)


# --- conversions as resources -----------------------------------------------------------


@bp.post("/conversions")
@bp.doc(
    summary="Upload a file and (unless start=false) start converting it",
    description=URL_IMPORT_DOC,
)
@bp.response(201, ConversionSchema)
@answers(400, 413, 415, 422, 502, 504, 507)
@rate_limited("UPLOAD_RATE_LIMIT", "uploads")
@multipart
@bp.arguments(StartOptionsSchema, location="query")
@bp.arguments(UploadSchema, location="files")
def create_conversion(options, upload):
    callback = callback_of(options)
    conversion = receive(upload)
    if options.pop("start"):
        start(conversion, options, fresh=True, callback=callback)
    location = url_for("api.conversion", public_id=conversion.public_id)
    return resource(conversion), 201, {"Location": location}


@bp.get("/conversions")
@bp.doc(summary="Your conversions, newest first")
@bp.response(200, ConversionListSchema)
@answers(422)
@bp.arguments(PageQuerySchema, location="query")
def list_conversions(query):
    page = db.paginate(
        conversions.listing(current_owner(), details=True),
        page=query["page"],
        per_page=query["per_page"],
        error_out=False,
    )
    body = {
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        "pages": page.pages,
        "items": [resource(c) for c in page.items],
    }
    return body, 200, {"Link": page_links(page)}


@bp.get("/conversions/<public_id>")
@bp.doc(summary="A conversion: status, progress, sheets, options, result")
@bp.response(200, ConversionSchema)
@answers(404, 410)
def conversion(public_id):
    return resource(owned(public_id))


@bp.post("/conversions/<public_id>/cancel")
@bp.doc(
    summary="Cancel a queued or running conversion",
    description="The answer says `cancelled` at once; the job stops within about a second "
    "and nothing it wrote is kept (a callback gets `conversion.cancelled`). A cancelled "
    "conversion can be converted again or deleted. A conversion that has ended (done, "
    "failed, cancelled, or not started) answers 409.",
)
@bp.response(200, ConversionSchema)
@answers(404, 409, 410)
def cancel_conversion(public_id):
    conversion = conversions.find(public_id, current_owner())
    conversions.cancel(conversion, by=current_owner())
    return resource(conversion)


@bp.delete("/conversions/<public_id>")
@bp.doc(
    summary="Delete a conversion and its files",
    description="A queued or running conversion answers 409: cancel it first "
    "(POST .../cancel), then delete it.",
)
@bp.response(204)
@answers(404, 409, 410)
def delete_conversion(public_id):
    conversions.delete(conversions.find(public_id, current_owner()), by=current_owner())
    return ""


@bp.get("/conversions/<public_id>/preview")
@bp.doc(summary="The first rows of a sheet, as text")
@bp.response(200, PreviewSchema)
@answers(404, 410, 422)
@bp.arguments(PreviewQuerySchema, location="query")
def preview(query, public_id):
    conversion = owned(public_id)
    sheet = query.get("sheet") or conversions.first_sheet_name(conversion)
    if sheet is None:
        abort(422, "This file has no sheets.")
    shown = conversions.sheet_preview(conversion, sheet)
    return shown.as_dict(rows=query["rows"])


@bp.post("/conversions/<public_id>/convert")
@bp.doc(summary="Convert again with new options (a new job)")
@bp.response(202, ConversionSchema)
@answers(400, 404, 409, 410, 413, 415, 422)
@rate_limited("CONVERT_RATE_LIMIT", "conversions")
@bp.arguments(ConvertOptionsSchema, location="json", required=False)
def reconvert(options, public_id):
    callback = callback_of(options)
    conversion = owned(public_id)
    start(conversion, options, callback=callback)
    return accepted(conversion)


@bp.get("/conversions/<public_id>/result")
@bp.doc(summary="The converted file", **file_response_doc("The converted file."))
@answers(404, 409, 410)
def result(public_id):
    return conversions.result_download(conversions.find(public_id, current_owner()))


# --- about the service and the caller ---------------------------------------------------


@bp.get("/formats")
@bp.doc(summary="Input and output formats, and every option with its values and default")
@bp.response(200, FormatsSchema)
@answers()
def formats():
    return {
        "inputs": [
            {"format": i.name, "description": i.description, "extensions": list(i.extensions)}
            for i in INPUTS.values()
        ],
        "outputs": [
            {
                "format": o.name,
                "description": o.label,
                "media_type": o.media_type,
                "extension": o.extension,
                "several_sheets": "one file" if o.one_file else "zip",
                "options": sorted(o.options),
            }
            for o in OUTPUTS.values()
        ],
        "options": option_list(),
    }


# --- webhooks -----------------------------------------------------------------------------


@bp.get("/webhooks")
@bp.doc(summary="This token's webhook: its default callback and the latest deliveries")
@bp.response(200, WebhookSchema)
@answers()
def webhook():
    return webhook_resource(g.api_token)


@bp.put("/webhooks")
@bp.doc(
    summary="Set (or, with null, clear) this token's default callback",
    description="The first time, the answer carries the signing secret: shown once.",
)
@bp.response(200, WebhookSchema)
@answers(400, 422)
@bp.arguments(WebhookSettingSchema, location="json")
def set_webhook(setting):
    secret = webhooks.set_token_webhook(g.api_token, setting["url"])
    return webhook_resource(g.api_token, secret)


@bp.post("/webhooks/secret")
@bp.doc(summary="A new signing secret for this token's deliveries (shown once)")
@bp.response(201, WebhookSecretSchema)
@answers()
def rotate_webhook_secret():
    return {"secret": webhooks.rotate_secret(g.api_token)}


def webhook_resource(token, secret=None):
    return {
        "url": token.webhook_url,
        "has_secret": token.webhook_secret is not None,
        "secret": secret,
        "deliveries": webhooks.delivery_log(token),
    }


@bp.get("/me")
@bp.doc(summary="Whose token this is, and its limits")
@bp.response(200, MeSchema)
@answers()
def me():
    user, token = current_owner(), g.api_token
    config = current_app.config
    return {
        "email": user.email,
        "name": user.name,
        "role": user.role.name if user.role else None,
        "token": {
            "name": token.name,
            "created_at": token.created_at,
            "last_used_at": token.last_used_at,
            "expires_at": token.expires_at,
        },
        "limits": {
            "upload_bytes": conversions.upload_limit(user),
            "request_bytes": config["MAX_CONTENT_LENGTH"],
            "one_shot_bytes": config["API_ONE_SHOT_MAX_MB"] * MB,
            "retention_hours": settings.get("retention_hours"),
            "rate_limit": config["API_RATE_LIMIT"],
        },
    }


# --- helpers ------------------------------------------------------------------------------


def receive(upload, look_inside=True):
    """The uploaded file, or the one fetched from its url. Refusals (UploadRefused,
    ImportRefused and the rest) answer as problems: see app/errors.py."""
    if "url" in upload:
        return url_import.receive_from_url(upload["url"], current_owner(), look_inside)
    return conversions.receive_upload(upload["file"], current_owner(), look_inside=look_inside)


def owned(public_id):
    """The caller's conversion, with its sheets read: 404 for anyone else's, 410 once
    expired (as the web)."""
    return conversions.inspected(conversions.find(public_id, current_owner()))


def start(conversion, data, fresh=False, callback=(None, None)):
    """Start a job with the API's options, or refuse them (a `fresh` upload is deleted)."""
    options = OptionsSchema.engine_options(
        data, conversions.text_sheet_name(conversion.original_name)
    )
    return conversions.start(conversion, options, fresh=fresh, callback=callback)


def callback_of(options):
    """(url, token id) of the job's webhook: the request's callback_url, else the token's
    default; 422 if it may not be called (taken out of the engine's options)."""
    token = g.api_token
    return webhooks.callback_for(token, options.pop("callback_url", None)), token.id


def accepted(conversion, dump=False):
    body = resource(conversion)
    location = url_for("api.conversion", public_id=conversion.public_id)
    return (ConversionSchema().dump(body) if dump else body), 202, {"Location": location}


def resource(conversion):
    info = conversion.info or {}
    public_id = conversion.public_id
    done = conversion.status == Conversion.DONE
    return {
        "id": public_id,
        "name": conversion.original_name,
        "size": conversion.size,
        "detected_format": conversion.detected_format,
        "format_description": info.get("description", conversion.detected_format),
        "encoding": info.get("encoding"),
        "delimiter": info.get("delimiter"),
        "sheets": info.get("sheets") or [],
        "status": conversion.status,
        "progress": {
            "done": conversion.progress_done,
            "total": conversion.progress_total,
            "percent": conversion.percent,
        },
        "options": OptionsSchema.from_engine(conversion.options or {}),
        "output_format": conversion.output_format,
        "callback_url": conversion.callback_url,
        "error": conversion.error,
        "result": {
            "name": conversion.result_name,
            "size": conversion.result_size,
            "rows": conversion.rows,
            "media_type": conversions.media_type(conversion),
            "warnings": conversion.warnings or [],
        }
        if done
        else None,
        "created_at": conversion.created_at,
        "finished_at": conversion.finished_at,
        "expires_at": conversion.expires_at,
        "links": {
            "self": url_for("api.conversion", public_id=public_id),
            "preview": url_for("api.preview", public_id=public_id),
            "convert": url_for("api.reconvert", public_id=public_id),
            "cancel": url_for("api.cancel_conversion", public_id=public_id)
            if conversion.status in conversions.ACTIVE
            else None,
            "result": url_for("api.result", public_id=public_id) if done else None,
        },
    }


def page_links(page):
    def link(number, rel):
        url = url_for("api.list_conversions", page=number, per_page=page.per_page)
        return f'<{url}>; rel="{rel}"'

    links = [link(1, "first"), link(max(page.pages, 1), "last")]
    if page.has_prev:
        links.append(link(page.prev_num, "prev"))
    if page.has_next:
        links.append(link(page.next_num, "next"))
    return ", ".join(links)


def option_list():
    schema = OptionsSchema()
    listed = []
    for name, field in schema.fields.items():
        meta = field.metadata
        kind = "list" if isinstance(field, ma_fields.List) else type(field).__name__.lower()
        default = field.load_default() if callable(field.load_default) else field.load_default
        listed.append(
            {
                "name": name,
                "type": {"list": "string", "boolean": "boolean", "integer": "integer"}.get(
                    kind, "string"
                ),
                "default": default,
                "allowed": meta.get("enum"),
                "repeatable": kind == "list",
                "description": meta.get("description", ""),
            }
        )
    return listed
