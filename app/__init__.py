"""Sheetport. `create_app()` builds the Flask application (see factory.py).

The factory is imported on first use, so `import app.sheets` (the engine, its CLI and
benchmarks) does not load Flask, SQLAlchemy and the rest.
"""


def create_app(config_name=None, overrides=None):
    from .factory import create_app as build

    return build(config_name, overrides)
