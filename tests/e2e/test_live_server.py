"""The browser tests' server itself: a response it abandons midway still closes its file."""

import gc

from werkzeug.test import EnvironBuilder

from .conftest import closing_responses


def test_an_abandoned_response_closes_its_file(app):
    wsgi = closing_responses(app)
    environ = EnvironBuilder(path="/static/img/favicon.svg").get_environ()
    statuses = []
    body = wsgi(environ, lambda status, headers, exc_info=None: statuses.append(status))
    next(body)  # the server wrote the first chunk, then the browser hung up

    del body  # and the server dropped the response without calling close()
    gc.collect()

    # Unclosed, the file's ResourceWarning would fail this test: warnings are errors here.
    assert statuses == ["200 OK"]
