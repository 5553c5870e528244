"""Helpers for the API tests: tokens, authorised requests, uploads."""

import io
from datetime import timedelta

from app.extensions import db
from app.models import User, utcnow
from app.tokens import create_token

WORKBOOK = {
    "Data": [["id", "name", "code"], [1, "Zoë", "00123"], [2, "Bob", "007"]],
    "Other": [["x"], [1]],
}


def make_token(app, email="ada@example.com", name="script", expires_in=None):
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == email))
        expires_at = utcnow() + expires_in if expires_in is not None else None
        token, secret = create_token(user, name, expires_at)
        return secret


class Api:
    """A test client that sends the bearer token."""

    def __init__(self, client, secret):
        self.client = client
        self.headers = {"Authorization": f"Bearer {secret}"}

    def request(self, method, path, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        # No CSRF token: a script has none, and the bearer token is what the API checks.
        response = self.client.open(path, method=method, headers=headers, csrf=False, **kwargs)
        response.get_data()  # read a streamed file whole, then let go of it
        response.close()
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def upload(self, path, content, name="report.xlsx", query=""):
        data = {"file": (io.BytesIO(content), name)}
        return self.post(path + query, data=data, content_type="multipart/form-data")


EXPIRED = timedelta(seconds=-1)
