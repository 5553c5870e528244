"""The API's page for people: the guide (/api). A profile's tokens are the main blueprint's."""

from pathlib import Path

from flask import current_app, render_template

from ..decorators import open_to_unconfirmed
from ..sheets import OUTPUT_FORMATS
from . import web
from .schemas import OptionsSchema


@web.get("/api")
@open_to_unconfirmed
def docs():
    example = Path(current_app.static_folder, "api", "example.py").read_text()
    options = [name for name in OptionsSchema().fields if name not in ("format", "sheet")]
    return render_template(
        "api/docs.html", example=example, output_formats=OUTPUT_FORMATS, option_names=options
    )
