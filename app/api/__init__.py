"""The JSON API for scripts (/api/v1) and its guide for people (/api)."""

from flask import Blueprint
from flask_smorest import Blueprint as ApiBlueprint

bp = ApiBlueprint(
    "api", __name__, url_prefix="/api/v1", description="Convert spreadsheets from scripts."
)
web = Blueprint("api_web", __name__)

from . import pages, views  # noqa: E402, F401  (the views register themselves on bp and web)
