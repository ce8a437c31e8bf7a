"""The wire side of the `http` connector: pooled keep-alive connections (HTTP and HTTPS, through
an `HTTPS_PROXY`/`HTTP_PROXY` unless `NO_PROXY`), TLS verification, redirects that never carry
credentials to another origin, retries with backoff that honour `Retry-After`, the rate limit,
and the status checks that turn an answer into a clear error.

`Transport` is what `headwater.extract.http.HttpConnector` fetches its pages with: it reads the
connector's checked settings (`timeout`, `verify`, `retry`, `rate_limit`, the credentials) and
reports errors through `Credentials.error`, so no message shows a secret.
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import http.client
import json
import logging
import math
import random
import socket
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

from headwater.extract.base import ConnectorError

if TYPE_CHECKING:
    from headwater.extract.http.config import HttpSettings

log = logging.getLogger("headwater.extract.http")
_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_REDIRECTS = 10

Origin = tuple[str, str, int | None]
"""Scheme, lower-case host and port of a URL: credentials go only to the configured one."""
_PoolKey = tuple[str, str, int, str | None]
"""Scheme, host, port and proxy of a pooled connection."""


def param_text(value: Any) -> str:
    """A parameter's value as sent: booleans as ``true``/``false``, JSON for lists and objects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def with_query(url: str, params: Mapping[str, Any]) -> str:
    """``url`` with ``params`` set (replacing parameters of the same name already in it)."""
    if not params:
        return url
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            kept.extend((key, param_text(v)) for v in value)
        else:
            kept.append((key, param_text(value)))
    return urlunsplit(parts._replace(query=urlencode(kept)))


def origin_of(url: str) -> Origin:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


@dataclass
class Response:
    """One answer, its body decompressed."""

    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes
    url: str


class TokenBucket:
    """``rate`` requests per second, at most ``burst`` at once."""

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.last = time.monotonic()

    def acquire(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return
            time.sleep((1.0 - self.tokens) / self.rate)


class Transport:
    """Connections, requests, retries and status checks (see the module docstring)."""

    def __init__(self, name: str, settings: HttpSettings, env: Mapping[str, str]) -> None:
        self.name = name
        self.settings = settings
        self.credentials = settings.credentials
        self.env = env
        self._conns: dict[_PoolKey, http.client.HTTPConnection] = {}
        self._proxy_headers: dict[_PoolKey, dict[str, str]] = {}
        self.bucket: TokenBucket | None = None

    def start(self) -> None:
        """A fresh rate limit, for a new run."""
        s = self.settings
        self.bucket = TokenBucket(s.rate, s.burst) if s.rate else None

    def _ssl_context(self) -> ssl.SSLContext:
        verify = self.settings.verify
        if verify is False:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        if isinstance(verify, str):
            return ssl.create_default_context(cafile=verify)
        return ssl.create_default_context()

    def _proxy_for(self, scheme: str, host: str) -> str | None:
        env = self.env
        proxy = env.get(f"{scheme}_proxy") or env.get(f"{scheme.upper()}_PROXY")
        if not proxy:
            return None
        no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
        for entry in no_proxy.replace(" ", "").split(","):
            entry = entry.lower().lstrip(".").split(":")[0]
            if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
                return None
        if "://" not in proxy:
            proxy = "http://" + proxy
        return proxy

    def _connection(self, url: str) -> tuple[http.client.HTTPConnection, str, bool, dict[str, str]]:
        """A (possibly reused) connection for ``url``, the request target, whether it is new, and
        the headers the proxy needs on each request."""
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        proxy = self._proxy_for(scheme, host.lower())
        key = (scheme, host, port, proxy)
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        if proxy and scheme == "http":
            target = urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))
        conn = self._conns.get(key)
        if conn is not None:
            return conn, target, False, self._proxy_headers.get(key, {})
        timeout = self.settings.timeout
        if proxy:
            pp = urlsplit(proxy)
            proxy_host, proxy_port = pp.hostname or "", pp.port or 8080
            proxy_headers = {}
            if pp.username:
                creds = f"{unquote(pp.username)}:{unquote(pp.password or '')}"
                token = base64.b64encode(creds.encode()).decode("ascii")
                self.credentials.secrets.extend(
                    [pp.password or "", token] if pp.password else [token]
                )
                proxy_headers["Proxy-Authorization"] = f"Basic {token}"
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    proxy_host, proxy_port, timeout=timeout, context=self._ssl_context()
                )
                conn.set_tunnel(host, port, headers=proxy_headers)
            else:
                conn = http.client.HTTPConnection(proxy_host, proxy_port, timeout=timeout)
                self._proxy_headers[key] = proxy_headers
        elif scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._ssl_context()
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self._conns[key] = conn
        return conn, target, True, self._proxy_headers.get(key, {})

    def _drop(self, url: str) -> None:
        parts = urlsplit(url)
        for key in [k for k in self._conns if k[1] == parts.hostname]:
            self._conns.pop(key).close()
            self._proxy_headers.pop(key, None)

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
        self._proxy_headers.clear()

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Response:
        """One exchange, reconnecting once if a kept-alive connection turned out to be closed."""
        for _ in range(2):
            conn, target, fresh, proxy_headers = self._connection(url)
            try:
                conn.request(method, target, body=body, headers={**headers, **proxy_headers})
                resp = conn.getresponse()
                data = resp.read()
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
                http.client.CannotSendRequest,
                http.client.BadStatusLine,
            ):
                self._drop(url)
                if fresh:
                    raise
                continue
            except BaseException:
                self._drop(url)
                raise
            if resp.will_close:
                self._drop(url)
            encoding = (resp.getheader("Content-Encoding") or "").lower()
            try:
                if encoding == "gzip":
                    data = gzip.decompress(data)
                elif encoding == "deflate":
                    data = zlib.decompress(data)
            except (OSError, zlib.error) as e:
                raise self.credentials.error(
                    f"the response of {self.credentials.show(url)} could not be decompressed ({encoding}): {e}"
                ) from None
            return Response(resp.status, resp.reason, resp.headers, data, url)
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange(self, method: str, url: str, body: bytes | None) -> Response:
        """One request with its redirects; credentials go only to the configured origin."""
        creds = self.credentials
        for _ in range(_MAX_REDIRECTS + 1):
            same_origin = origin_of(url) == self.settings.origin
            if same_origin and creds.query:
                url = with_query(url, creds.query)
            headers = {
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
                "User-Agent": "headwater",
            }
            headers.update(self.settings.headers)
            if body is not None:
                headers["Content-Type"] = "application/json"
            if same_origin:
                headers.update(creds.headers)
            elif creds.any:
                log.debug(
                    "%s: not sending credentials to %s (another origin)",
                    self.name,
                    origin_of(url)[1],
                )
            resp = self._send(method, url, headers, body)
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECTS or not location:
                return resp
            log.debug("%s: %s %s -> %s", self.name, method, creds.show(url), resp.status)
            url = urljoin(url, location)
            if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                method, body = "GET", None
        raise creds.error(f"more than {_MAX_REDIRECTS} redirects from {creds.show(url)}")

    def _delay(self, attempt: int) -> float:
        s = self.settings
        base = min(s.max_backoff, s.backoff * 2 ** (attempt - 1))
        return random.uniform(base / 2, base)

    def fetch(self, method: str, url: str, body: Any) -> Response:
        """One page, with rate limiting, retries, and the errors users can act on."""
        s, creds = self.settings, self.credentials
        data = None if body is None else json.dumps(body).encode("utf-8")
        host = urlsplit(url).hostname or ""
        port = origin_of(url)[2]
        attempt = 0
        while True:
            attempt += 1
            if self.bucket is not None:
                self.bucket.acquire()
            try:
                resp = self._exchange(method, url, data)
            except ConnectorError:
                raise
            except ssl.SSLCertVerificationError as e:
                raise creds.error(
                    f"the TLS certificate of {host} was rejected: {e.verify_message or e.reason}",
                    hint="check the host name in `url`, the server's certificate, or set `verify` to a CA bundle path",
                ) from None
            except ssl.SSLError as e:
                raise creds.error(
                    f"TLS handshake with {host}:{port} failed: {e.reason or e}",
                    hint="check that the server speaks HTTPS on this port (or use http://) and its TLS settings",
                ) from None
            except socket.gaierror as e:
                if e.errno != socket.EAI_AGAIN:
                    raise creds.error(
                        f"cannot resolve the host `{host}` ({e.strerror})",
                        hint="check the host name in `url` and the machine's network / DNS",
                    ) from None
                problem, what = (
                    f"DNS lookup of `{host}` failed temporarily",
                    "check the network / DNS",
                )
            except ConnectionRefusedError:
                problem = f"connection to {host}:{port} refused"
                what = "check that the server is running and listening there, and the `url`"
            except TimeoutError:
                problem = f"{host}:{port} did not answer within {s.timeout:g}s"
                what = "check the server, or raise `timeout`"
            except (OSError, http.client.HTTPException) as e:
                problem = f"connection to {host}:{port} failed ({type(e).__name__}: {e})"
                what = "check the server, the network and the `url`"
            else:
                status = resp.status
                if status == 429 or 500 <= status <= 599:
                    shown = f"HTTP {status} {resp.reason}".strip()
                    if attempt >= s.max_attempts:
                        raise creds.error(
                            f"gave up after {attempt} attempts on {creds.show(url)}: last response {shown}",
                            hint="the API is overloaded or failing; retry later, lower `rate_limit` or raise `retry.max_attempts`",
                            transient=True,
                        )
                    wait = _retry_after(resp.headers.get("Retry-After"))
                    if wait is not None and wait > s.max_retry_after:
                        raise creds.error(
                            f"{creds.show(url)} answered {shown} and asks to wait {wait:.0f}s "
                            f"(more than retry.max_retry_after = {s.max_retry_after:g}s)",
                            hint="retry later, or raise `retry.max_retry_after`",
                            transient=True,
                        )
                    if wait is None:
                        wait = self._delay(attempt)
                    log.warning(
                        "%s: %s from %s, retrying in %.2fs (attempt %d of %d)",
                        self.name, shown, creds.redact(host), wait, attempt + 1, s.max_attempts,
                    )  # fmt: skip
                    time.sleep(wait)
                    continue
                self._check_status(resp)
                return resp
            if attempt >= s.max_attempts:
                raise creds.error(
                    f"{problem} (after {attempt} attempts)", hint=what, transient=True
                )
            wait = self._delay(attempt)
            log.warning(
                "%s: %s, retrying in %.2fs (attempt %d of %d)",
                self.name,
                problem,
                wait,
                attempt + 1,
                s.max_attempts,
            )
            time.sleep(wait)

    def _check_status(self, resp: Response) -> None:
        status = resp.status
        if status < 400:
            return
        creds = self.credentials
        parts = urlsplit(resp.url)
        shown = f"HTTP {status} {resp.reason}".strip()
        if status in (401, 403):
            if origin_of(resp.url) != self.settings.origin:
                hint = f"{parts.hostname} is not the origin of `url`, so no credentials were sent to it"
            elif creds.env_vars:
                names = " and ".join(f"`{v}`" for v in creds.env_vars)
                hint = (
                    f"check the environment variable {names} and the `auth` settings ({creds.kind})"
                )
            else:
                hint = "the API needs credentials: add `auth:` (bearer, basic or api_key) reading the secret from an environment variable"
            raise creds.error(
                f"credentials rejected by {parts.hostname} ({shown}) for `{parts.path or '/'}`",
                hint=hint,
            )
        if status == 404:
            raise creds.error(
                f"not found ({shown}) at {parts.hostname}: path `{parts.path or '/'}`",
                hint="check `url` (and its `{...}` params)",
            )
        snippet = resp.body[:300].decode("utf-8", "replace").strip()
        raise creds.error(
            f"{creds.show(resp.url)} answered {shown}" + (f": {snippet}" if snippet else ""),
            hint="check `params`, `headers`, `body` and the API's documentation",
        )
