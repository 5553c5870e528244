"""What the API reads and writes, as marshmallow schemas: flask-smorest validates requests
with them and builds the OpenAPI document from them."""

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from ..sheets import ENCODINGS, OUTPUT_FORMATS, Options
from ..sheets.convert import PREVIEW_CELL_CHARS, PREVIEW_COLUMNS
from ..sheets.formats import applies_text
from ..sheets.options import (
    DATE_ORDERS,
    DECIMAL_SEPARATORS,
    INPUT_ENCODINGS,
    JSON_STYLES,
    LINE_ENDINGS,
    QUOTING,
    SQL_DIALECTS,
)
from ..sheets.values import DATE_STYLES

DEFAULTS = Options()
MAX_PREVIEW_ROWS = 100  # what an upload's preview keeps (as the web page shows)


def choice(values, default, description):
    values = list(values)
    return fields.String(
        load_default=default,
        validate=validate.OneOf(values),
        metadata={"description": description, "enum": values, "default": default},
    )


class OneOrMany(fields.List):
    """A list that also takes one value on its own: `"sheet": "Data"` is `["Data"]`."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str | bytes):
            value = [value]
        return super()._deserialize(value, attr, data, **kwargs)


def flag(default, description):
    return fields.Boolean(load_default=default, metadata={"description": description})


class OptionsSchema(ma.Schema):
    """The engine's options (app.sheets.Options), with the command line's names and defaults."""

    format = choice(OUTPUT_FORMATS, DEFAULTS.format, "Output format.")
    sheet = OneOrMany(
        fields.String(validate=validate.Length(1, 255)),
        load_default=list,
        validate=validate.Length(max=1000),
        metadata={
            "description": "A sheet to convert, by name (repeatable in a query; in a JSON "
            "body one name or a list). None: the first visible sheet."
        },
    )
    all_sheets = flag(False, "Every visible sheet (a zip of files, or one xlsx); overrides sheet.")
    include_hidden = flag(False, "With all_sheets: hidden sheets too.")
    delimiter = fields.String(
        load_default=DEFAULTS.delimiter,
        validate=validate.Regexp(
            r'\A[^"\r\n\x00]\Z', error="One character, not a quote or line break."
        ),
        metadata={"description": "The field delimiter.", "default": ","},
    )
    quoting = choice(QUOTING, DEFAULTS.quoting, "Which fields are quoted.")
    line_ending = choice(LINE_ENDINGS, DEFAULTS.line_ending, "Line endings.")
    encoding = choice(ENCODINGS, DEFAULTS.encoding, "The text encoding written.")
    skip_rows = fields.Integer(
        load_default=DEFAULTS.skip_rows,
        validate=validate.Range(0, 1_000_000),
        metadata={"description": "Rows to skip at the top of each sheet.", "default": 0},
    )
    header = flag(DEFAULTS.header, "The first row (after skip_rows) names the columns.")
    json_style = choice(JSON_STYLES, DEFAULTS.json_style, "Objects keyed by the header, or arrays.")
    date_style = choice(DATE_STYLES, DEFAULTS.date_style, "How dates are written as text.")
    fill_merged = flag(DEFAULTS.fill_merged, "Fill merged cells with their value.")
    protect_formulas = flag(
        DEFAULTS.protect_formulas, "Prefix text that a spreadsheet would run as a formula."
    )
    infer_types = flag(DEFAULTS.infer_types, "Text input: numbers, dates and booleans typed.")
    input_encoding = fields.String(
        load_default=DEFAULTS.input_encoding,
        validate=validate.Length(max=40),
        metadata={
            "description": "Text input: read the file in this encoding (any Python knows, "
            "e.g. " + ", ".join(INPUT_ENCODINGS[:6]) + "); empty: as detected.",
            "default": "",
        },
    )
    decimal_separator = choice(
        DECIMAL_SEPARATORS,
        DEFAULTS.decimal_separator,
        "Text input: the decimal separator of numbers; empty: as detected.",
    )
    date_order = choice(
        DATE_ORDERS,
        DEFAULTS.date_order,
        "Text input: the order of day, month and year; empty: as detected.",
    )
    full_precision = flag(
        DEFAULTS.full_precision, "Numbers with every stored digit, not the 15 Excel shows."
    )
    sql_dialect = choice(
        SQL_DIALECTS, DEFAULTS.sql_dialect, "The database the statements are written for."
    )
    keep_formats = flag(
        DEFAULTS.keep_formats,
        "Keep the input's number formats, column widths and frozen header; false: values only.",
    )
    as_displayed = flag(
        DEFAULTS.as_displayed,
        "Numbers and dates as their cells' number formats show them (14.74%, $1,234.50, "
        "02.03.2024), not their values.",
    )

    @classmethod
    def from_engine(cls, options):
        """A job's stored engine options as this schema names them, so that what a GET
        shows can be posted back as it is."""
        names = set(cls().fields) - {"start"}
        shown = {name: value for name, value in options.items() if name in names}
        if "sheets" in options:
            shown["sheet"] = list(options["sheets"])
        return shown

    @staticmethod
    def engine_options(data, name_stem):
        """The engine's options as a dict that can be stored with the job."""
        options = {name: value for name, value in data.items() if name != "sheet"}
        # As the web form; a sheet named twice is converted once (not a zip of one file).
        sheets = [] if data["all_sheets"] else list(dict.fromkeys(data["sheet"]))
        return {**options, "sheets": sheets, "name_stem": name_stem}


# Which formats an option changes is the registry's to say, here as on the web form.
for _name, _field in OptionsSchema._declared_fields.items():
    if _said := applies_text(_name):
        _field.metadata["description"] = f"{_field.metadata['description']} {_said}"


def callback_field():
    return fields.String(
        load_default=None,
        validate=validate.Length(1, 2048),
        metadata={
            "description": "A URL to POST a signed event to when the job ends (see the "
            "guide's Webhooks). None: the token's default webhook, if it has one."
        },
    )


class ConvertOptionsSchema(OptionsSchema):
    callback_url = callback_field()


class StartOptionsSchema(ConvertOptionsSchema):
    start = fields.Boolean(
        load_default=True,
        metadata={"description": "false: only upload (preview it, then POST .../convert)."},
    )


class UploadSchema(ma.Schema):
    """The multipart body: the file, or a URL to fetch it from (one of the two)."""

    file = Upload(metadata={"description": "The spreadsheet. Or send url instead."})
    url = fields.String(
        validate=validate.Length(1, 2048),
        metadata={
            "description": "Instead of file: an http(s) URL Sheetport fetches the spreadsheet "
            "from, if the site allows URL import from its host (see the guide's Import from "
            "a URL). Named from its Content-Disposition, else the URL's path."
        },
    )

    # On what was sent, so that a url refused for its own reason is not also "missing".
    @ma.validates_schema(pass_original=True, skip_on_field_errors=False)
    def one_source(self, data, original, **kwargs):
        sent = {"file", "url"} & set(original)
        if not sent:
            missing = "Send a file, or a url to fetch it from."
            raise ma.ValidationError({"file": [missing], "url": [missing]})
        if len(sent) > 1:
            both = "Send the file or a url to fetch it from, not both."
            raise ma.ValidationError({"file": [both], "url": [both]})


class PreviewQuerySchema(ma.Schema):
    sheet = fields.String(
        validate=validate.Length(1, 255),
        metadata={"description": "Sheet name; default: the first visible sheet."},
    )
    rows = fields.Integer(
        load_default=20,
        validate=validate.Range(1, MAX_PREVIEW_ROWS),
        metadata={"description": "How many rows, at most 100.", "default": 20},
    )


class PageQuerySchema(ma.Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, 1_000_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class SheetSchema(ma.Schema):
    name = fields.String(required=True)
    visible = fields.Boolean(required=True)
    rows = fields.Integer(required=True, metadata={"description": "Rows used, from row 1."})
    columns = fields.Integer(required=True, metadata={"description": "Columns used, from A."})


class ProgressSchema(ma.Schema):
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)
    percent = fields.Integer(required=True)


class ResultSchema(ma.Schema):
    name = fields.String(required=True, metadata={"description": "Download file name."})
    size = fields.Integer(required=True, metadata={"description": "Bytes."})
    rows = fields.Integer(required=True, allow_none=True)
    media_type = fields.String(required=True)
    warnings = fields.List(fields.String(), required=True)


class LinksSchema(ma.Schema):
    self = fields.String(required=True)
    preview = fields.String(required=True)
    convert = fields.String(required=True)
    cancel = fields.String(
        required=True, allow_none=True, metadata={"description": "While queued or running."}
    )
    result = fields.String(required=True, allow_none=True)


class ConversionSchema(ma.Schema):
    id = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "The uploaded file's name."})
    size = fields.Integer(required=True, metadata={"description": "Bytes uploaded."})
    detected_format = fields.String(required=True)
    format_description = fields.String(required=True)
    encoding = fields.String(required=True, allow_none=True)
    delimiter = fields.String(required=True, allow_none=True)
    sheets = fields.List(fields.Nested(SheetSchema), required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["uploaded", "queued", "running", "done", "failed", "cancelled"]),
        metadata={
            "description": "uploaded (not converted yet), queued, running, then done, failed "
            "(the reason in `error`) or cancelled (POST links.cancel while queued or running)."
        },
    )
    progress = fields.Nested(ProgressSchema, required=True)
    options = fields.Dict(required=True, metadata={"description": "The last job's options."})
    output_format = fields.String(required=True, allow_none=True)
    callback_url = fields.String(
        required=True, allow_none=True, metadata={"description": "Where the job's end is POSTed."}
    )
    error = fields.String(required=True, allow_none=True)
    result = fields.Nested(ResultSchema, required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(required=True, allow_none=True)
    expires_at = fields.DateTime(required=True)
    links = fields.Nested(LinksSchema, required=True)


class DeliverySchema(ma.Schema):
    id = fields.String(
        required=True,
        attribute="public_id",
        metadata={"description": "The event's id, the same on every attempt."},
    )
    event = fields.String(required=True)
    conversion = fields.String(required=True, allow_none=True, attribute="conversion_public_id")
    url = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "delivered, retrying or failed"})
    attempts = fields.Integer(required=True)
    last_status = fields.Integer(
        required=True, allow_none=True, metadata={"description": "The receiver's HTTP status."}
    )
    last_error = fields.String(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    last_attempt_at = fields.DateTime(required=True, allow_none=True)
    next_attempt_at = fields.DateTime(required=True, allow_none=True)
    delivered_at = fields.DateTime(required=True, allow_none=True)


class WebhookSchema(ma.Schema):
    url = fields.String(
        required=True, allow_none=True, metadata={"description": "The default callback."}
    )
    has_secret = fields.Boolean(required=True)
    secret = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Only when this request made it; never shown again."},
    )
    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)


class WebhookSettingSchema(ma.Schema):
    url = fields.String(required=True, allow_none=True, validate=validate.Length(1, 2048))


class WebhookSecretSchema(ma.Schema):
    secret = fields.String(required=True)


class ConversionListSchema(ma.Schema):
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    items = fields.List(fields.Nested(ConversionSchema), required=True)


class PreviewSchema(ma.Schema):
    sheet = fields.String(required=True)
    rows = fields.List(fields.List(fields.String()), required=True)
    total_rows = fields.Integer(required=True)
    total_columns = fields.Integer(required=True)
    # A preview is bounded; conversions take every cell.
    shown_columns = fields.Integer(
        required=True,
        metadata={"description": f"Columns in each row: the first {PREVIEW_COLUMNS} at most."},
    )
    cut_cells = fields.Boolean(
        required=True,
        metadata={
            "description": f"Some cells over {PREVIEW_CELL_CHARS} characters were cut short, "
            "ending in …"
        },
    )


class FormatSchema(ma.Schema):
    format = fields.String(required=True)
    description = fields.String(required=True)
    media_type = fields.String(metadata={"description": "Output formats only."})
    extension = fields.String(metadata={"description": "Output formats only."})
    extensions = fields.List(
        fields.String(),
        metadata={"description": "Input formats only: the extensions its files are saved with."},
    )
    several_sheets = fields.String(
        metadata={
            "description": "Output formats only: 'one file' holds every chosen sheet, "
            "or 'zip' of one file per sheet."
        }
    )
    options = fields.List(
        fields.String(),
        metadata={"description": "Output formats only: the options that change its output."},
    )


class OptionSchema(ma.Schema):
    name = fields.String(required=True)
    type = fields.String(required=True)
    default = fields.Raw(required=True)
    allowed = fields.List(fields.Raw(), allow_none=True, required=True)
    repeatable = fields.Boolean(required=True)
    description = fields.String(required=True)


class FormatsSchema(ma.Schema):
    inputs = fields.List(fields.Nested(FormatSchema), required=True)
    outputs = fields.List(fields.Nested(FormatSchema), required=True)
    options = fields.List(fields.Nested(OptionSchema), required=True)


class TokenSchema(ma.Schema):
    name = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True, allow_none=True)
    expires_at = fields.DateTime(required=True, allow_none=True)


class LimitsSchema(ma.Schema):
    upload_bytes = fields.Integer(required=True)
    request_bytes = fields.Integer(required=True, allow_none=True)
    one_shot_bytes = fields.Integer(
        required=True, metadata={"description": "Larger uploads to /convert answer 202."}
    )
    retention_hours = fields.Integer(required=True)
    rate_limit = fields.String(required=True)


class MeSchema(ma.Schema):
    email = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True, allow_none=True)
    token = fields.Nested(TokenSchema, required=True)
    limits = fields.Nested(LimitsSchema, required=True)


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.List(
        fields.Dict(),
        metadata={"description": "Validation errors: [{name, in, detail}], one per problem."},
    )
