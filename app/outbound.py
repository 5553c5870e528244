"""Requests Sheetport makes to addresses its users give it (webhook callbacks, files imported
from a URL), refused when they point inside the network Sheetport runs in (SSRF).

A host is resolved, every address it resolves to is checked, and the connection is made to
the address that was checked (so a name cannot resolve to a public address for the check
and a private one for the connection); each redirect is checked the same way. Loopback,
private, link-local (cloud metadata at 169.254.169.254), shared, multicast and reserved
addresses are refused unless the operator allows them: OUTBOUND_ALLOW_PRIVATE for all, or
OUTBOUND_ALLOWED_HOSTS for named hosts (`host` or `host:port`).
"""

import ipaddress
import socket
import threading
import time
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import idna
import urllib3
from werkzeug.http import parse_options_header

MAX_URL_LENGTH = 2048
REDIRECTS = (307, 308)  # the ones that keep a POST a POST; others end the request
GET_REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3
ANSWER_BYTES_READ = 64 * 1024  # of an answer's body, then the connection is dropped
CHUNK_BYTES = 64 * 1024  # read and written at a time by get()


class Refused(ValueError):
    """The URL may not be requested; the message says why, for the person who gave it."""


class DownloadFailed(Exception):
    """The URL was requested but gave no file: what the remote answered, or the network's
    error; the message says which."""


class DownloadTimedOut(DownloadFailed):
    """The whole download (redirects included) took longer than its time limit."""


class DownloadTooLarge(DownloadFailed):
    """The answer is (or says it is) longer than the limit; nothing more was read."""

    def __init__(self, limit):
        super().__init__(f"The file is larger than the limit of {limit} bytes.")
        self.limit = limit


@dataclass(frozen=True)
class Rules:
    allow_private: bool = False
    allowed_hosts: frozenset = frozenset()  # "host" or "host:port", lower case

    @classmethod
    def from_config(cls, config):
        hosts = config.get("OUTBOUND_ALLOWED_HOSTS") or ()
        return cls(
            allow_private=bool(config.get("OUTBOUND_ALLOW_PRIVATE")),
            allowed_hosts=frozenset(host.strip().lower() for host in hosts if host.strip()),
        )

    def allows_any_address(self, host, port):
        return self.allow_private or {host, f"{host}:{port}"} & self.allowed_hosts


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (a name, or an address without brackets)
    port: int
    path: str  # with the query
    address: str  # the checked address to connect to


def checked(url, rules, resolve=socket.getaddrinfo, allows_host=None):
    """The Target of `url` once its scheme, form, host (by `allows_host(host)` if given,
    before any DNS lookup) and every address it resolves to pass."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise Refused(f"Use a URL of at most {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise Refused(f"That is not a URL Sheetport can call ({error}).") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("Use an http:// or https:// URL with a host name.")
    if parts.username or parts.password:
        raise Refused("Put no user name or password in the URL (a webhook checks the signature).")
    host = ascii_host(parts.hostname.rstrip(".").lower())
    # Percent-encoded as a request line must be; what is encoded already stays.
    path = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe=URL_SAFE)
    if allows_host is not None and not allows_host(host):
        raise Refused(f"{host} is not a host files may be fetched from here.")
    try:
        found = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused(f"The host {host} could not be found.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in found))
    if not addresses:
        raise Refused(f"The host {host} could not be found.")
    if not rules.allows_any_address(host, port):
        for address in addresses:
            reason = inside_reason(address)
            if reason:
                raise Refused(
                    f"{host} is {reason} ({address}): Sheetport calls only public addresses."
                )
    if port < 1024 and port not in (80, 443):  # a service's, not a web hook's or a file's
        raise Refused(f"Use port 80, 443 or one above 1023, not {port}.")
    return Target(parts.scheme, host, port, path, addresses[0])


URL_SAFE = "/?&=%:@!$'()*+,;~#[]"


def ascii_host(host):
    """The host as DNS and the Host header spell it: an address as it is, a name in its
    IDNA (punycode) form. Refused if it is no name at all."""
    with suppress(ValueError):
        ipaddress.ip_address(host)
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise Refused(f"{host!r} is not a host name Sheetport can look up.") from None


def inside_reason(address):
    """Why `address` is not a public one ("a loopback address"...), or None if it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        if ip.is_site_local:
            return "a site-local address"
        # An IPv4 address carried inside IPv6 (mapped, 6to4, Teredo) is judged by itself.
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo and ip.teredo[1])
        if inner:
            return inside_reason(str(inner))
    for test, reason in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_private", "a private address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(ip, test):
            return reason
    return None if ip.is_global else "not a public address"


@dataclass
class Answer:
    status: int | None
    error: str | None = None  # why no answer came, or why it does not count


def post(url, body, headers, rules, timeout=10.0, resolve=socket.getaddrinfo):
    """POST `body` to `url`, following 307/308 redirects (each checked), all of it within
    `timeout` seconds of wall-clock time (a receiver that answers a byte at a time is cut
    off). An Answer, never an exception: Refused and any failure become its error."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        try:
            target = checked(url, rules, resolve)
            response = send(target, body, headers, deadline)
        except Refused as refusal:
            return Answer(None, str(refusal))
        except Exception as error:  # noqa: BLE001 (whatever a receiver does, it is its answer)
            late = time.monotonic() >= deadline
            return Answer(None, "No answer within the time limit." if late else no_answer(error))
        if response.status not in REDIRECTS:
            return Answer(response.status)
        location = response.headers.get("Location")
        if not location:
            return Answer(response.status, "A redirect without a Location.")
        url = urljoin(url, location)
    return Answer(None, f"More than {MAX_REDIRECTS} redirects.")


def no_answer(error):
    """What a failed exchange tells the person who gave the URL: the kind of failure, not
    urllib3's text with the address in it (a log of which ports answer maps a network)."""
    if isinstance(error, urllib3.exceptions.SSLError):
        return "No answer: the TLS handshake failed (is the certificate valid for the host?)."
    if isinstance(error, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return "No answer: Connection refused or the host is unreachable."
    if isinstance(error, urllib3.exceptions.TimeoutError | TimeoutError):
        return "No answer within the time limit."
    return "No answer: the connection broke off."


@dataclass(frozen=True)
class Download:
    url: str  # the last one, after the redirects
    filename: str | None  # as Content-Disposition gave it (filename* first), unchecked
    content_type: str | None
    size: int


def get(url, out, rules, limit, timeout, allows_host=None, resolve=socket.getaddrinfo):
    """GET `url` and write its body to the file object `out`, chunk by chunk. Redirects
    (301, 302, 303, 307, 308; MAX_REDIRECTS at most) are followed, each URL checked as the
    first one and, when given, by `allows_host(host)`. `timeout` bounds the whole of it,
    not each read; past `limit` bytes nothing more is read. A Download; else Refused (the
    URL may not be requested), DownloadTooLarge, DownloadTimedOut or DownloadFailed. What
    was written to `out` before a failure is the caller's to throw away."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        target = checked(url, rules, resolve, allows_host)
        with ExitStack() as stack:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timed_out()
            with network(deadline):
                timeout = urllib3.Timeout(remaining)
                request = exchange(target, "GET", None, GET_HEADERS, timeout, deadline)
                response = stack.enter_context(request)
            if response.status in GET_REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise DownloadFailed(f"It answered {response.status} without a Location.")
                url = urljoin(url, location)
                continue
            if not 200 <= response.status < 300:
                reason = response.reason or ""
                raise DownloadFailed(f"It answered {response.status} {reason}".rstrip() + ".")
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > limit:
                raise DownloadTooLarge(limit)
            size = copy_body(response, out, limit, deadline)
            _, options = parse_options_header(response.headers.get("Content-Disposition"))
            content_type = response.headers.get("Content-Type")
            return Download(url, options.get("filename") or None, content_type, size)
    raise DownloadFailed(f"It redirected more than {MAX_REDIRECTS} times.")


GET_HEADERS = {"Accept": "*/*", "Accept-Encoding": "identity", "User-Agent": "Sheetport"}


@contextmanager
def network(deadline):
    """Network failures while the block runs as DownloadFailed, or DownloadTimedOut once
    the deadline has passed (writing to the caller's file is not in such a block)."""
    try:
        yield
    except (urllib3.exceptions.HTTPError, OSError) as error:
        late = isinstance(error, urllib3.exceptions.TimeoutError | TimeoutError)
        # urllib3's NewConnectionError (refused, unreachable) is a ConnectTimeoutError too.
        late = late and not isinstance(error, urllib3.exceptions.NewConnectionError)
        if late or time.monotonic() >= deadline:
            raise timed_out() from None
        raise DownloadFailed(no_answer(error)) from None


def timed_out():
    return DownloadTimedOut("It did not send the whole file within the time limit.")


def copy_body(response, out, limit, deadline):
    """Write the body to `out` until it ends, passes `limit` bytes or the deadline: a
    watchdog shuts the socket at the deadline, so a server that stops sending (or sends a
    byte at a time) cannot hold the request longer."""
    late = threading.Event()

    def stop():
        late.set()
        with suppress(Exception):  # the body ended (and the connection went) meanwhile
            response.shutdown()

    watchdog = threading.Timer(max(deadline - time.monotonic(), 0), stop)
    watchdog.daemon = True
    watchdog.start()
    size = 0
    try:
        while True:
            with network(deadline):
                chunk = response.read1(CHUNK_BYTES)
            if late.is_set() or time.monotonic() >= deadline:
                raise timed_out()  # a shut socket reads as the end of the body: it is not
            if not chunk:
                return size
            size += len(chunk)
            if size > limit:
                raise DownloadTooLarge(limit)
            out.write(chunk)
    finally:
        watchdog.cancel()


def send(target, body, headers, deadline):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the time limit passed")
    options = urllib3.Timeout(connect=remaining, read=remaining)
    with exchange(target, "POST", body, headers, options, deadline) as response:
        response.read(ANSWER_BYTES_READ)
        return response


class Watched:
    """A connection whose socket is shut at `deadline` (a class attribute, set per
    request): per-read timeouts alone let a peer that sends a byte at a time go on for
    ever, in the headers as in the body."""

    deadline = None
    watchdog = None

    def connect(self):
        super().connect()
        if self.deadline is not None:
            self.watchdog = threading.Timer(max(self.deadline - time.monotonic(), 0), self.cut)
            self.watchdog.daemon = True
            self.watchdog.start()

    def cut(self):
        with suppress(Exception):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self):
        if self.watchdog is not None:
            self.watchdog.cancel()
        super().close()


def watched(connection_class, deadline):
    return type(
        "Watched" + connection_class.__name__, (Watched, connection_class), {"deadline": deadline}
    )


@contextmanager
def exchange(target, method, body, headers, timeout, deadline=None):
    """The response to one request, made to the checked address of `target` (its host
    name kept for Host and TLS), not following redirects, its body left unread; with a
    `deadline` (time.monotonic()), its socket is shut then, whatever it is doing."""
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != (443 if target.scheme == "https" else 80):
        host_header += f":{target.port}"
    options = {"timeout": timeout, "retries": False}
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **options)
    pool.ConnectionCls = watched(pool.ConnectionCls, deadline)
    with pool:
        response = pool.urlopen(
            method,
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            preload_content=False,
        )
        try:
            yield response
        finally:
            response.release_conn()
