"""WSGI entry point: `gunicorn wsgi:app`.

FLASK_CONFIG chooses the configuration; a server started without it runs the
production one, which refuses to start without SECRET_KEY.
"""

import gc
import os

from app import create_app
from app.deploy import log_per_process_warnings

app = create_app(os.environ.get("FLASK_CONFIG") or "production")
log_per_process_warnings(app)  # settings that hold in one process only, said at start

# What starting made (modules, the app, its routes) lives as long as the process: out of the
# collector's way, a full collection walks the objects of requests, not every module's and
# the app's as well (a long pause every few hundred page views; docs/benchmarks.md). Under
# --preload the workers share these pages with the master, too.
gc.freeze()
