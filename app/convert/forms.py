import codecs

from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    SubmitField,
)
from wtforms.validators import InputRequired, NumberRange, ValidationError

from ..forms import AppForm, output_format_choices
from ..sheets.formats import OUTPUTS, applies_text, formats_with, spoken


def choices(*pairs):
    return [SelectChoice(value, label) for value, label in pairs]


FORMATS = output_format_choices()


class OptionsForm(AppForm):
    output_format = SelectField("Convert to", choices=FORMATS)
    sheets = SelectMultipleField("Sheets", choices=[])
    all_sheets = BooleanField("All sheets")
    include_hidden = BooleanField("Include hidden sheets")
    delimiter = SelectField(
        "Delimiter",
        choices=choices((",", "Comma ,"), (";", "Semicolon ;"), ("\t", "Tab"), ("|", "Pipe |")),
    )
    quoting = SelectField(
        "Quotes",
        choices=choices(
            ("minimal", "Only where needed"),
            ("all", "Around every field"),
            ("nonnumeric", "Around every field but numbers"),
        ),
    )
    encoding = SelectField(
        "Encoding",
        choices=choices(
            ("utf-8", "UTF-8"),
            ("utf-8-sig", "UTF-8 with BOM (opens right in Excel)"),
            ("cp1252", "Windows-1252 (Western European)"),
        ),
    )
    line_ending = SelectField(
        "Line endings", choices=choices(("crlf", "Windows (CRLF)"), ("lf", "Unix and macOS (LF)"))
    )
    header = BooleanField("The first row holds column names", default=True)
    skip_rows = IntegerField(
        "Rows to skip at the top",
        default=0,
        validators=[
            InputRequired(),
            NumberRange(0, 1_000_000, "Enter a number from 0 to 1,000,000."),
        ],
    )
    json_style = SelectField(
        "JSON layout",
        choices=choices(("records", "Objects keyed by column name"), ("rows", "Arrays of values")),
    )
    date_style = SelectField(
        "Write dates as",
        choices=choices(("iso", "2024-03-15 (ISO)"), ("dmy", "15/03/2024"), ("mdy", "03/15/2024")),
    )
    decimal_separator = SelectField(
        "Decimal separator in the file",
        choices=choices(("", "As detected"), (".", "Point: 1,234.56"), (",", "Comma: 1.234,56")),
        default="",
    )
    date_order = SelectField(
        "Dates in the file",
        choices=choices(
            ("", "As detected"),
            ("dmy", "Day first: 31/12/2024"),
            ("mdy", "Month first: 12/31/2024"),
            ("ymd", "Year first: 2024-12-31"),
        ),
        default="",
    )
    sql_dialect = SelectField(
        "SQL for",
        choices=choices(("sqlite", "SQLite"), ("postgresql", "PostgreSQL"), ("mysql", "MySQL")),
        default="sqlite",
    )
    fill_merged = BooleanField("Fill merged cells with their value")
    protect_formulas = BooleanField("Protect against formula injection")
    infer_types = BooleanField(
        'Type the file\'s numbers, dates and booleans ("00123" stays text)', default=True
    )
    full_precision = BooleanField("Write numbers with every stored digit, not the 15 Excel shows")
    keep_formats = BooleanField(
        "Keep number formats, column widths and the frozen header (off: values only)",
        default=True,
    )
    as_displayed = BooleanField(
        "Write numbers and dates as the spreadsheet shows them (14.74%, $1,234.50), "
        "not their values"
    )
    notify = BooleanField("Email me when a long conversion finishes")
    # Set by the view from the upload ("Read file as"), never taken from the request.
    input_encoding = HiddenField()
    submit = SubmitField("Convert")

    REMEMBERED = (
        "output_format",
        "delimiter",
        "quoting",
        "encoding",
        "line_ending",
        "header",
        "json_style",
        "date_style",
        "fill_merged",
        "protect_formulas",
        "sql_dialect",
        "infer_types",
        "full_precision",
        "keep_formats",
        "as_displayed",
    )

    # Which output formats each option changes (the registry says); the page shows the
    # others under "More options". skip_rows and fill_merged change every format but are
    # rarely needed: always under "More options".
    APPLIES_TO = {
        name: formats_with(name)
        for name in (
            *("delimiter", "quoting", "encoding", "line_ending", "protect_formulas"),
            *("date_style", "json_style", "header", "decimal_separator", "date_order"),
            *("sql_dialect", "infer_types", "full_precision", "keep_formats", "as_displayed"),
        )
    } | {"skip_rows": (), "fill_merged": ()}
    SEVERAL_SHEETS = (
        f"Several sheets make one file in {spoken([o.short for o in OUTPUTS.values() if o.one_file])}; "
        f"a zip of one file per sheet in {spoken([o.short for o in OUTPUTS.values() if not o.one_file])}."
    )
    # The engine's option names where they differ from the field names.
    ENGINE_NAMES = {"output_format": "format"}

    DETECTED = {
        "decimal_separator": {".": "point", ",": "comma"},
        "date_order": {"dmy": "day first", "mdy": "month first", "ymd": "year first"},
    }

    def name_detected(self, info):
        """Say in the "As detected" choices what was found in a text file."""
        for name, words in self.DETECTED.items():
            found = words.get(info.get(name) or "")
            if found:
                field = getattr(self, name)
                field.choices = [SelectChoice("", f"As detected ({found})"), *field.choices[1:]]

    def applies_here(self, output_format):
        """The option names that change output in `output_format`."""
        return [name for name, formats in self.APPLIES_TO.items() if output_format in formats]

    def applies_text(self, name):
        return applies_text(name) if self.APPLIES_TO[name] else None

    @classmethod
    def data_from_options(cls, options):
        """Form data from a conversion's stored engine options (only the keys it has)."""
        names = (
            *cls.REMEMBERED,
            *("skip_rows", "all_sheets", "include_hidden", "sheets"),
            *("decimal_separator", "date_order"),
        )
        data = {}
        for name in names:
            key = cls.ENGINE_NAMES.get(name, name)
            if key in options:
                data[name] = options[key]
        return data

    def validate_sheets(self, field):
        if not self.all_sheets.data and not field.data:
            raise ValidationError("Choose at least one sheet, or all sheets.")

    def engine_options(self, name_stem):
        """The engine's Options, as a dict that can be stored with the job."""
        return {
            "format": self.output_format.data,
            "sheets": [] if self.all_sheets.data else list(self.sheets.data),
            "all_sheets": self.all_sheets.data,
            "include_hidden": self.include_hidden.data,
            "delimiter": self.delimiter.data,
            "quoting": self.quoting.data,
            "encoding": self.encoding.data,
            "line_ending": self.line_ending.data,
            "skip_rows": self.skip_rows.data,
            "header": self.header.data,
            "json_style": self.json_style.data,
            "date_style": self.date_style.data,
            "fill_merged": self.fill_merged.data,
            "protect_formulas": self.protect_formulas.data,
            "sql_dialect": self.sql_dialect.data,
            "infer_types": self.infer_types.data,
            "full_precision": self.full_precision.data,
            "keep_formats": self.keep_formats.data,
            "as_displayed": self.as_displayed.data,
            "decimal_separator": self.decimal_separator.data or "",
            "date_order": self.date_order.data or "",
            "input_encoding": self.input_encoding.data or "",
            "name_stem": name_stem,
        }

    def remembered(self):
        return {name: getattr(self, name).data for name in self.REMEMBERED}


# What a text file can be read as: the encodings people's old files are in.
READ_AS = choices(
    ("utf-8", "UTF-8"),
    ("cp1252", "Windows-1252 (Western European)"),
    ("iso-8859-1", "ISO-8859-1 (Latin-1)"),
    ("iso-8859-15", "ISO-8859-15 (Latin-9, with €)"),
    ("mac-roman", "Mac OS Roman"),
    ("cp850", "DOS Latin-1 (850)"),
    ("cp437", "DOS US (437)"),
    ("cp1250", "Windows-1250 (Central European)"),
    ("iso-8859-2", "ISO-8859-2 (Central European)"),
    ("cp1251", "Windows-1251 (Cyrillic)"),
    ("koi8-r", "KOI8-R (Russian)"),
    ("cp1253", "Windows-1253 (Greek)"),
    ("cp1254", "Windows-1254 (Turkish)"),
    ("cp1257", "Windows-1257 (Baltic)"),
    ("cp775", "DOS Baltic (775)"),
    ("utf-16", "UTF-16"),
    ("shift_jis", "Shift JIS (Japanese)"),
    ("gb18030", "GB18030 (Chinese)"),
    ("big5", "Big5 (Traditional Chinese)"),
    ("euc-kr", "EUC-KR (Korean)"),
)


class ReadAsForm(AppForm):
    """Read a text file again in another encoding ("Letters look wrong? Change this.")."""

    input_encoding = SelectField("Read file as", choices=READ_AS)
    submit = SubmitField("Show")

    def offer(self, current):
        """Put the encoding the file is read in among the choices, and select it."""
        if not current:
            return
        known = {same_text(choice.value): choice.value for choice in self.input_encoding.choices}
        if same_text(current) not in known:
            known[same_text(current)] = current
            self.input_encoding.choices = [SelectChoice(current), *self.input_encoding.choices]
        if not self.is_submitted():
            self.input_encoding.data = known[same_text(current)]


def same_text(encoding):
    """One name per encoding as far as the letters go (utf-8-sig reads as utf-8)."""
    name = codecs.lookup(encoding).name
    return "utf-8" if name == "utf-8-sig" else name


class DeleteSelectedForm(AppForm):
    """History's "Delete selected": the public ids ticked, then the confirmation page's
    button (`confirmed`). An id that is not the visitor's is left out, not refused."""

    MOST = 100  # more than a History page holds

    chosen = SelectMultipleField("Conversions", validate_choice=False)
    confirmed = HiddenField()
    submit = SubmitField("Delete selected")

    def validate_chosen(self, field):
        if not field.data:
            raise ValidationError("Tick the conversions to delete first.")
        if len(field.data) > self.MOST:
            raise ValidationError(f"Delete at most {self.MOST} at a time.")
