# Read by the flask CLI only (not by gunicorn): a checkout runs in development.
FLASK_APP=wsgi.py
FLASK_CONFIG=development
