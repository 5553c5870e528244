"""The test client every test app uses: with CSRF protection on, it sends the token its
session holds with every request that changes something, as a browser sends the one the
page rendered, so a test of what a form does is not a test of CSRF. Whether each form
renders its token and refuses a request without one is tested with the page's own form
(tests/forms.py, tests/test_real_forms.py); `csrf=False` sends none."""

import hashlib
import os

from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class TokenClient(FlaskClient):
    def open(self, *args, csrf=True, **kwargs):
        method = str(kwargs.get("method") or "GET").upper()
        config = self.application.config
        if csrf and method not in SAFE_METHODS and config.get("WTF_CSRF_ENABLED", True):
            headers = dict(kwargs.get("headers") or {})
            headers.setdefault("X-CSRFToken", self.csrf_token(kwargs.get("base_url")))
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)

    def csrf_token(self, base_url=None):
        """The signed token Flask-WTF's generate_csrf() would render for the session this
        client holds for `base_url`'s host."""
        config = self.application.config
        field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        with self.session_transaction(base_url=base_url) as session:
            if field not in session:
                session[field] = hashlib.sha1(os.urandom(64)).hexdigest()
            raw = session[field]
        secret = config.get("WTF_CSRF_SECRET_KEY") or config["SECRET_KEY"]
        return URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)
