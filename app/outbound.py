"""Requests Sheetport makes to addresses its users give it (webhook callbacks), refused when
they point inside the network Sheetport runs in (SSRF).

A host is resolved, every address it resolves to is checked, and the connection is made to
the address that was checked (so a name cannot resolve to a public address for the check
and a private one for the connection); each redirect is checked the same way. Loopback,
private, link-local (cloud metadata at 169.254.169.254), shared, multicast and reserved
addresses are refused unless the operator allows them: OUTBOUND_ALLOW_PRIVATE for all, or
OUTBOUND_ALLOWED_HOSTS for named hosts (`host` or `host:port`).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3

MAX_URL_LENGTH = 2048
REDIRECTS = (307, 308)  # the ones that keep a POST a POST; others end the request
MAX_REDIRECTS = 3
ANSWER_BYTES_READ = 64 * 1024  # of an answer's body, then the connection is dropped


class Refused(ValueError):
    """The URL may not be requested; the message says why, for the person who gave it."""


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


def checked(url, rules, resolve=socket.getaddrinfo):
    """The Target of `url` once its scheme, form and every address it resolves to pass."""
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
        raise Refused("Put no user name or password in the URL; check the signature instead.")
    host = parts.hostname.rstrip(".").lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
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
    return Target(parts.scheme, host, port, path, addresses[0])


def inside_reason(address):
    """Why `address` is not a public one ("a loopback address"...), or None if it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
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
    """POST `body` to `url`, following 307/308 redirects (each checked). An Answer, never
    an exception: Refused and network failures become its error."""
    for _ in range(MAX_REDIRECTS + 1):
        try:
            target = checked(url, rules, resolve)
            response = send(target, body, headers, timeout)
        except Refused as refusal:
            return Answer(None, str(refusal))
        except (urllib3.exceptions.HTTPError, OSError) as error:
            return Answer(None, f"No answer: {type(error).__name__}: {error}"[:255])
        if response.status not in REDIRECTS:
            return Answer(response.status)
        location = response.headers.get("Location")
        if not location:
            return Answer(response.status, "A redirect without a Location.")
        url = urljoin(url, location)
    return Answer(None, f"More than {MAX_REDIRECTS} redirects.")


def send(target, body, headers, timeout):
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != (443 if target.scheme == "https" else 80):
        host_header += f":{target.port}"
    options = {"timeout": urllib3.Timeout(connect=timeout, read=timeout), "retries": False}
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
    with pool:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            preload_content=False,
        )
        response.read(ANSWER_BYTES_READ)
        response.release_conn()
        return response
