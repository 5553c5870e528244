"""Batches in the API: several files in one request (or a zip of them), each converted with
the same options, downloaded as one zip. The same service as the web's (app/batches.py)."""

import marshmallow as ma
from flask import Response, stream_with_context, url_for
from flask_smorest.fields import Upload
from marshmallow import fields, validate
from werkzeug.http import dump_options_header

from .. import batches
from ..decorators import charge_batch, rate_limited
from ..sheets import OUTPUT_FORMATS
from . import bp
from .auth import current_owner
from .views import answers, multipart


class BatchUploadSchema(ma.Schema):
    file = fields.List(
        Upload(),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "The spreadsheets (repeat the field), or one zip of them."},
    )


class BatchOptionsSchema(ma.Schema):
    format = fields.String(
        load_default="csv",
        validate=validate.OneOf(OUTPUT_FORMATS),
        metadata={"description": "Output format for every file."},
    )
    all_sheets = fields.Boolean(
        load_default=False, metadata={"description": "Every sheet of each file; else its first."}
    )


class BatchStartSchema(BatchOptionsSchema):
    start = fields.Boolean(
        load_default=True, metadata={"description": "false: only upload (convert them later)."}
    )


class BatchFileSchema(ma.Schema):
    id = fields.String(required=True, metadata={"description": "The file's conversion id."})
    name = fields.String(required=True)
    status = fields.String(required=True)
    error = fields.String(required=True, allow_none=True)
    result = fields.Dict(required=True, allow_none=True, metadata={"description": "name, size"})
    link = fields.String(required=True, metadata={"description": "The conversion resource."})


class RefusedFileSchema(ma.Schema):
    name = fields.String(required=True)
    error = fields.String(required=True)


class BatchSchema(ma.Schema):
    id = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    files = fields.List(fields.Nested(BatchFileSchema), required=True)
    refused = fields.List(
        fields.Nested(RefusedFileSchema),
        required=True,
        metadata={"description": "Files not taken, with why; the others are converted."},
    )
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "Files by status."},
    )
    finished = fields.Boolean(required=True, metadata={"description": "No file is under way."})
    links = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), required=True)
    not_started = fields.List(
        fields.Nested(RefusedFileSchema),
        metadata={
            "description": "Only when converting: the files not started, with why (expired, "
            "or the options do not suit them); a file under way is left to finish."
        },
    )


@bp.post("/batches")
@bp.doc(summary="Upload several files (or a zip of them) and convert each the same way")
@bp.response(201, BatchSchema)
@answers(400, 413, 415, 422, 507)
@rate_limited("UPLOAD_RATE_LIMIT", "uploads")
@multipart
@bp.arguments(BatchStartSchema, location="query")
@bp.arguments(BatchUploadSchema, location="files")
def create_batch(options, upload):
    batch = batches.receive(upload["file"], current_owner(), admit=charge_batch)
    skipped = None  # not converting: nothing to say
    if options["start"]:
        _, skipped = batches.start_all(batch, options["format"], options["all_sheets"])
    return (
        resource(batch, skipped),
        201,
        {"Location": url_for("api.batch", public_id=batch.public_id)},
    )


@bp.get("/batches/<public_id>")
@bp.doc(summary="A batch: each file's state and result, and the files not taken")
@bp.response(200, BatchSchema)
@answers(404)
def batch(public_id):
    return resource(batches.find(public_id, current_owner()))


@bp.post("/batches/<public_id>/convert")
@bp.doc(summary="Convert every file of the batch that is not under way, the same way")
@bp.response(202, BatchSchema)
@answers(400, 404, 422)
@rate_limited("CONVERT_RATE_LIMIT", "conversions")
@bp.arguments(BatchOptionsSchema, location="json", required=False)
def convert_batch(options, public_id):
    batch = batches.find(public_id, current_owner())
    options = options or {"format": "csv", "all_sheets": False}
    _, skipped = batches.start_all(batch, options["format"], options["all_sheets"])
    return resource(batch, skipped), 202, {"Location": url_for("api.batch", public_id=public_id)}


@bp.get("/batches/<public_id>/result")
@bp.doc(
    summary="Every converted file of the batch in one zip, streamed",
    responses={
        "200": {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
@answers(404, 409)
def batch_result(public_id):
    archive, name = batches.download_all(batches.find(public_id, current_owner()))
    return Response(
        stream_with_context(archive),
        mimetype="application/zip",
        headers={"Content-Disposition": dump_options_header("attachment", {"filename": name})},
    )


def resource(batch, skipped=None):
    counts, busy, ready = batches.summary(batch)
    public_id = batch.public_id
    extra = (
        {} if skipped is None else {"not_started": [{"name": n, "error": e} for n, e in skipped]}
    )
    return extra | {
        "id": public_id,
        "created_at": batch.created_at,
        "files": [
            {
                "id": conversion.public_id,
                "name": conversion.original_name,
                "status": conversion.status,
                "error": conversion.error,
                "result": {"name": conversion.result_name, "size": conversion.result_size}
                if conversion.status == "done"
                else None,
                "link": url_for("api.conversion", public_id=conversion.public_id),
            }
            for conversion in batch.conversions
        ],
        "refused": batch.refused or [],
        "counts": counts,
        "finished": not busy,
        "links": {
            "self": url_for("api.batch", public_id=public_id),
            "convert": url_for("api.convert_batch", public_id=public_id),
            "result": url_for("api.batch_result", public_id=public_id) if ready else None,
        },
    }
