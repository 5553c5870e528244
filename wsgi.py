"""WSGI entry point: `gunicorn wsgi:app`.

FLASK_CONFIG chooses the configuration; a server started without it runs the
production one, which refuses to start without SECRET_KEY.
"""

import os

from app import create_app

app = create_app(os.environ.get("FLASK_CONFIG") or "production")
