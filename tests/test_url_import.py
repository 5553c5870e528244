"""Import from a URL (issue 27, 2): `url` instead of `file` on POST /api/v1/conversions and
/convert, fetched from a server started here on 127.0.0.1 (allowed by this module's settings
only): named from Content-Disposition or the path, a 10 GB stream stopped at the upload limit,
a server that hangs stopped by the time limit, redirects checked, and off by default."""

import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest

from app import outbound
from app.extensions import db
from app.models import Conversion

from .api_helpers import WORKBOOK, Api, make_token
from .test_api import assert_problem, wait_done
from .test_convert import stored_files

CSV = b"id,name\n1,Ada\n2,Grace\n"
MB = 1024 * 1024
TIME_LIMIT = 2


class FileServer:
    """An HTTP server on 127.0.0.1 answering GETs by path (see Handler.do_GET); `sent`
    counts the bytes of the endless streams, `stop` ends the ones that hang."""

    def __init__(self, workbook):
        self.workbook, self.sent, self.stop = workbook, 0, threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # a body without a length ends when the line closes

            def do_GET(self):  # noqa: N802 (http.server's name)
                path = self.path
                if path in ("/files/orders.csv", "/"):
                    self.answer(200, CSV, {"Content-Type": "text/csv"})
                elif path == "/report":
                    disposition = 'attachment; filename="../Q3 report.csv"'
                    self.answer(200, CSV, {"Content-Disposition": disposition})
                elif path == "/export?id=7":
                    disposition = "attachment; filename*=UTF-8''Ums%C3%A4tze%202024.xlsx"
                    self.answer(200, server.workbook, {"Content-Disposition": disposition})
                elif path == "/files/photo.png":
                    self.answer(200, b"\x89PNG\r\n\x1a\n" + bytes(200))
                elif path.startswith("/to?"):
                    self.answer(302, b"", {"Location": path[len("/to?") :]})
                elif path.startswith("/loop/"):
                    self.answer(301, b"", {"Location": f"/loop/{int(path[6:]) + 1}"})
                elif path in ("/endless", "/ten-gb"):
                    self.send_response(200)
                    if path == "/ten-gb":
                        self.send_header("Content-Length", str(10 * 1024**3))
                    self.end_headers()
                    chunk = bytes(64 * 1024)
                    try:
                        while not server.stop.is_set():  # "10 GB": as long as it is read
                            self.wfile.write(chunk)
                            server.sent += len(chunk)
                    except OSError:
                        pass  # the reader hung up
                elif path == "/silent":  # not even the headers
                    server.stop.wait(30)
                elif path == "/hang":
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"id,")
                    self.wfile.flush()
                    server.stop.wait(30)
                elif path == "/drip":  # a byte at a time: each read is quick, the whole is not
                    self.send_response(200)
                    self.end_headers()
                    try:
                        while not server.stop.wait(0.1):
                            self.wfile.write(b"1")
                            self.wfile.flush()
                    except OSError:
                        pass
                else:
                    self.answer(404, b"no such file")

            def answer(self, status, body, headers=()):
                self.send_response(status)
                for name, value in dict(headers).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def workbook(tmp_path):
    from .sheets.books import write_xlsx

    return write_xlsx(tmp_path / "book.xlsx", WORKBOOK).read_bytes()


@pytest.fixture
def files(workbook):
    started = FileServer(workbook)
    yield started
    started.close()


@pytest.fixture
def app_settings(request, files):
    """URL import on for 127.0.0.1, whose loopback address is allowed for the server's port
    only; with `indirect=True`, a test's parameter changes some of these."""
    return {
        "URL_IMPORT_HOSTS": ["127.0.0.1"],
        "URL_IMPORT_TIMEOUT_SECONDS": TIME_LIMIT,
        "OUTBOUND_ALLOWED_HOSTS": [f"127.0.0.1:{files.port}"],
        **getattr(request, "param", {}),
    }


def changed(**settings):
    return pytest.mark.parametrize("app_settings", [settings], indirect=True)


@pytest.fixture
def api(app, client, user):
    return Api(client, make_token(app))


def import_url(api, url, path="/api/v1/conversions", query="?format=csv", **extra):
    data = {"url": url, **extra}
    return api.post(path + query, data=data, content_type="multipart/form-data")


def conversions_kept(app):
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Conversion))


def assert_nothing_kept(app):
    assert conversions_kept(app) == 0
    assert stored_files(app) == []  # nor the download's temporary file


def test_a_csv_is_imported_and_converted_named_from_the_path(app, api, files):
    response = import_url(api, f"{files.base}/files/orders.csv", query="?format=json")
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.json
    assert created["name"] == "orders.csv" and created["size"] == len(CSV)
    assert created["detected_format"] == "csv"
    assert wait_done(api, created["id"])["status"] == "done"
    result = api.get(f"/api/v1/conversions/{created['id']}/result")
    assert result.json == [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}]
    assert len(stored_files(app)) == 2  # the import and its result, no temporary file


def test_the_one_shot_converts_an_xlsx_named_by_content_disposition(app, api, files):
    response = import_url(
        api, f"{files.base}/export?id=7", path="/api/v1/convert", query="?format=csv&sheet=Data"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_data(as_text=True).splitlines()[1] == "1,Zoë,00123"
    assert "Ums%C3%A4tze%202024.csv" in response.headers["Content-Disposition"]


@pytest.mark.parametrize(
    "path, name",
    [
        ("/export?id=7", "Umsätze 2024.xlsx"),  # Content-Disposition's filename*
        ("/report", "Q3 report.csv"),  # its filename, without the path
        ("/files/orders.csv", "orders.csv"),
        ("/", "download"),
    ],
)
def test_the_name_is_content_dispositions_else_the_paths(api, files, path, name):
    response = import_url(api, f"{files.base}{path}", query="?start=false")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["name"] == name


def test_a_refused_connection_is_a_download_failure(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with open(tmp_path / "out", "wb") as out, pytest.raises(outbound.DownloadFailed) as failed:
        outbound.get(f"http://127.0.0.1:{port}/", out, outbound.Rules(True), 100, 5)
    # urllib3's NewConnectionError is a ConnectTimeoutError too: not a time-out all the same.
    assert failed.type is outbound.DownloadFailed and "Connection refused" in str(failed.value)


def test_a_redirect_is_followed_and_the_last_url_names_the_file(api, files):
    target = quote(f"{files.base}/files/orders.csv", safe=":/")
    response = import_url(api, f"{files.base}/to?{target}")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.json["name"] == "orders.csv"


def test_an_endless_stream_is_stopped_at_the_upload_limit(app, api, files):
    with app.app_context():
        from app import settings

        settings.save({"upload_limit_user_mb": 2})
        db.session.commit()
    started = time.monotonic()
    response = import_url(api, f"{files.base}/endless")
    assert_problem(response, 413, "The file is larger than the 2 MB limit with your account.")
    assert time.monotonic() - started < TIME_LIMIT  # the size stopped it, not the clock
    time.sleep(0.2)
    assert 2 * MB < files.sent < 2 * MB + 8 * MB  # no more read than the limit and buffers
    assert_nothing_kept(app)


def test_a_10_gb_length_is_refused_before_reading(app, api, files):
    response = import_url(api, f"{files.base}/ten-gb")
    assert_problem(response, 413, "limit with your account")
    assert_nothing_kept(app)


@pytest.mark.parametrize("path", ["/silent", "/hang", "/drip"])
def test_a_server_that_hangs_or_drips_is_stopped_by_the_time_limit(app, api, files, path):
    started = time.monotonic()
    response = import_url(api, f"{files.base}{path}")
    took = time.monotonic() - started
    assert_problem(response, 504, f"could not be fetched in {TIME_LIMIT} s")
    assert TIME_LIMIT - 0.5 < took < TIME_LIMIT + 2
    assert_nothing_kept(app)


def test_the_remotes_error_is_a_502_saying_what_it_answered(app, api, files):
    response = import_url(api, f"{files.base}/files/missing.csv")
    assert_problem(response, 502, "It answered 404 Not Found.")
    assert_nothing_kept(app)


def test_a_download_that_is_not_a_spreadsheet_is_refused_as_an_upload_is(app, api, files):
    assert_problem(import_url(api, f"{files.base}/files/photo.png"), 415)
    assert_nothing_kept(app)


@changed(URL_IMPORT_HOSTS=["*"])  # so the address rule is what refuses
@pytest.mark.parametrize(
    "target, reason",
    [
        ("http://10.0.0.1/book.xlsx", "a private address (10.0.0.1)"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://127.0.0.1:1/book.xlsx", "a loopback address"),  # another port: not allowed
    ],
)
def test_a_redirect_inside_the_network_is_refused(app, api, files, target, reason):
    response = import_url(api, f"{files.base}/to?{quote(target, safe=':/')}")
    assert_problem(response, 422, reason)
    assert_nothing_kept(app)


def test_a_redirect_chain_too_long_is_refused(app, api, files):
    response = import_url(api, f"{files.base}/loop/0")
    assert_problem(response, 502, f"redirected more than {outbound.MAX_REDIRECTS} times")
    assert_nothing_kept(app)


def test_a_redirect_to_a_host_not_allowed_is_refused(app, api, files):
    response = import_url(api, f"{files.base}/to?http://files.example.org/book.xlsx")
    assert_problem(response, 422, "files.example.org is not a host files may be fetched from")


@pytest.mark.parametrize("app_settings", [{}])  # the defaults
def test_url_import_is_off_by_default(app, api, files):
    from config import Config

    assert Config.URL_IMPORT_HOSTS == []
    for path in ("/api/v1/conversions", "/api/v1/convert"):
        response = import_url(api, f"{files.base}/files/orders.csv", path=path)
        assert_problem(response, 422, "URL import is off on this site.")
    assert_nothing_kept(app)
    assert "(<code>-F url=…</code> instead of the file) is off" in api.get("/api").text


def test_the_guide_says_url_import_is_on(api):
    assert "send a URL for Sheetport to" in api.get("/api").text


@changed(URL_IMPORT_HOSTS=["*.example.com", "files.example.org"])
def test_a_host_not_in_the_allowlist_is_refused_naming_it(app, api, files):
    response = import_url(api, f"{files.base}/files/orders.csv")
    assert_problem(response, 422, "127.0.0.1 is not a host files may be fetched from")


@changed(URL_IMPORT_HOSTS=["*"], OUTBOUND_ALLOWED_HOSTS=[])
def test_loopback_is_refused_without_outbound_allowed_hosts(app, api, files):
    response = import_url(api, f"{files.base}/files/orders.csv")
    assert_problem(response, 422, "127.0.0.1 is a loopback address (127.0.0.1)")


def test_both_file_and_url_is_422_naming_both(api, files):
    data = {"url": f"{files.base}/files/orders.csv", "file": (io.BytesIO(CSV), "a.csv")}
    response = api.post("/api/v1/conversions", data=data, content_type="multipart/form-data")
    body = assert_problem(response, 422)
    assert {(e["name"], e["in"]) for e in body["errors"]} == {("file", "files"), ("url", "files")}
    assert "not both" in body["detail"]


def test_neither_file_nor_url_is_422_naming_both(api, files):
    response = api.post("/api/v1/convert", data={}, content_type="multipart/form-data")
    body = assert_problem(response, 422)
    assert {e["name"] for e in body["errors"]} == {"file", "url"}
    assert "Send a file, or a url to fetch it from." in body["detail"]


def test_an_empty_url_is_422_for_its_length_not_as_missing(api):
    body = assert_problem(import_url(api, ""), 422)
    assert [(e["name"], e["detail"]) for e in body["errors"]] == [
        ("url", "Length must be between 1 and 2048.")
    ]


def test_an_option_beside_the_url_is_refused_as_beside_a_file(api, files):
    response = import_url(api, f"{files.base}/files/orders.csv", format="csv")
    assert_problem(response, 422, "options go in the query string (?format=...)")


def test_the_document_shows_url_beside_file(api):
    document = api.get("/api/v1/openapi.json").json
    for path in ("/api/v1/conversions", "/api/v1/convert"):
        operation = document["paths"][path]["post"]
        body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
        if "$ref" in body:
            body = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
        assert {"file", "url"} <= set(body["properties"]) and not body.get("required")
        assert {"413", "422", "502", "504"} <= set(operation["responses"])
