from flask import Blueprint

bp = Blueprint("convert", __name__)

from . import views  # noqa: E402,F401  (views register themselves on bp)
