"""The JSON API for scripts (/api/v1) and its guide for people (/api)."""

from flask import Blueprint
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict


class StrictParser(FlaskParser):
    """Every location refuses what its schema does not name (webargs ignores unknown query
    parameters and files by default): a misspelled option is a 422, never a silent default."""

    DEFAULT_UNKNOWN_BY_LOCATION = dict.fromkeys(FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, RAISE)

    def load_files(self, req, schema):
        """The multipart body: its files and its fields (`url` goes beside `file`), one
        schema for both, as OpenAPI has one requestBody."""
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


class ApiBlueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = StrictParser()


bp = ApiBlueprint(
    "api", __name__, url_prefix="/api/v1", description="Convert spreadsheets from scripts."
)
web = Blueprint("api_web", __name__)

from . import batches, pages, views  # noqa: E402, F401  (the views register themselves on bp and web)
