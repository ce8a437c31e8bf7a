"""HTTP/REST JSON APIs: the `http` connector.

One request per page, with the standard library's `http.client` (keep-alive connections, proxies
from ``HTTP(S)_PROXY`` / ``NO_PROXY``, redirects followed by hand so credentials never leave the
configured origin). Each page's records become one `Batch` (or ``batch_size`` records per batch)
whose Arrow schema is the union of every column seen so far in the run: a column missing from a
page is null there, and a column whose JSON type changes is widened (int -> double, anything
mixed -> JSON text), so later batches never lose columns of earlier ones.

```yaml
sources:
  - name: gh
    connection: {url: "https://api.github.com", auth: {type: bearer, token_env: GITHUB_TOKEN}}
    tables:
      - name: issues
        extract:
          url: "https://api.github.com/repos/{owner}/{repo}/issues"
          params: {owner: duckdb, repo: duckdb, state: all, per_page: 100}
          pagination: {type: link_header}
          incremental: {cursor_field: updated_at, param: since, initial: "2024-01-01T00:00:00Z"}
          rate_limit: 5
```

Keys (the source's ``connection:`` merged with the table's ``extract:``):

- ``url`` (required): scheme, host and path; ``{name}`` is replaced by ``params[name]``
  (URL-quoted), which is then not sent as a query parameter.
- ``method``: ``GET`` (default) or ``POST``; ``body``: the JSON body of a POST.
- ``params``: query parameters (a list value repeats the parameter); ``headers``.
- ``records_path``: dotted path to the records (``data.items``, ``$.data[0].rows``); default: the
  response if it is a list, else its first list-valued key.
- ``pagination``: ``type`` one of
  ``none`` (default);
  ``page_number`` (``page_param`` = page, ``start`` = 1, ``size_param``, ``page_size``,
  ``total_path``: total number of *pages* as dlt; stops on an empty page);
  ``offset`` (``offset_param`` = offset, ``limit_param`` = limit, ``limit`` = 100, ``start`` = 0,
  ``total_path``: total number of *records*; the offset advances by the records received, so a
  server capping ``limit`` loses nothing; stops on an empty page);
  ``cursor`` (``cursor_path`` = next_cursor in the response, ``cursor_param`` = cursor; stops when
  the response has no cursor); ``next_url`` (``next_url_path`` = next: a URL in the response);
  ``link_header`` (RFC 8288 ``Link: <...>; rel="next"``). ``in: body`` sends the page parameters
  in a POST's JSON body instead of the query.
- ``auth``: ``{type: bearer, token_env}``, ``{type: basic, username | username_env,
  password_env}``, ``{type: api_key, name, in: header | query, value_env}``. Secrets are read from
  environment variables only, sent only to the origin of ``url``, and masked (``***``) in every
  log line and error message.
- ``retry``: ``max_attempts`` = 5, ``backoff`` = 0.5 (seconds, doubled per attempt, with jitter),
  ``max_backoff`` = 30, ``max_retry_after`` = 300. 429, 5xx, refused / reset connections and
  timeouts are retried; ``Retry-After`` (seconds or an HTTP date) is honoured.
- ``rate_limit``: requests per second (a token bucket; ``rate_limit_burst`` = 1).
- ``timeout``: seconds per request (30). ``verify``: false, or a CA bundle path (default: the
  system's).
- ``incremental``: ``cursor_field`` (dotted path in each record), ``param`` (the parameter that
  receives the last committed cursor, or ``initial`` on a first load), ``in: query | body``. Each
  batch's ``cursor`` is the largest ``cursor_field`` value extracted so far in the run.
- ``flatten``: true (default): nested objects become ``parent__child`` columns; false: STRUCTs.
  Arrays stay LISTs either way.
- ``max_pages``: stop after this many pages.

Of the loader's keys, ``lag`` is applied here (as the SQL connector does): the parameter gets the
committed cursor minus ``lag`` (a number, or a duration such as ``PT1H`` / ``2 hours`` for ISO
timestamps and dates, sent back in the same text form), and the loader deduplicates the rows read
again by ``primary_key``. ``batch_size`` cuts pages into batches of that many records.

A column seen only as null (or ``[]`` / ``{}``) so far is left out of the batches until a value
gives it a type, as dlt does: DuckDB would otherwise create a column of type "NULL".
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import string
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import (
    parse_qsl,
    quote,
    urlencode,
    urljoin,
    urlsplit,
    urlunsplit,
)

from headwater.errors import ConfigError, did_you_mean
from headwater.extract.base import (
    Batch,
    Connector,
    ConnectorError,
    ExtractState,
    Rejected,
    TransientConnectorError,
    register,
)
from headwater.extract.http_records import TableBuilder
from headwater.extract.http_transport import (
    HttpTransport,
    _origin,
    _param_text,
    _Response,
    _with_query,
)
from headwater.extract.keys import Section

if TYPE_CHECKING:
    pass

log = logging.getLogger("headwater.extract.http")

_PAGINATION_KEYS = {
    "none": set(),
    "page_number": {"page_param", "start", "size_param", "page_size", "total_path"},
    "offset": {"offset_param", "limit_param", "limit", "start", "total_path"},
    "cursor": {"cursor_path", "cursor_param"},
    "next_url": {"next_url_path"},
    "link_header": set(),
}
_AUTH_KEYS = {
    "bearer": {"token_env"},
    "basic": {"username", "username_env", "password_env"},
    "api_key": {"name", "in", "value_env"},
}
_RETRY_KEYS = {"max_attempts", "backoff", "max_backoff", "max_retry_after"}
_INCREMENTAL_KEYS = {"cursor_field", "param", "initial", "in"}
_MISSING = object()


# ---------------------------------------------------------------------------------------------
# small helpers


def _path_tokens(path: str) -> list[str | int]:
    """``$.data.items[0].x`` / ``data.items.0.x`` -> ``["data", "items", 0, "x"]``."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    tokens: list[str | int] = []
    for part in re.findall(r"\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]|([^.\[\]]+)", text):
        index, quoted, name = part
        if index:
            tokens.append(int(index))
        elif quoted:
            tokens.append(quoted)
        elif name.isdigit():
            tokens.append(int(name))
        else:
            tokens.append(name)
    return tokens


def _get_path(doc: Any, path: str) -> Any:
    """The value at ``path`` in ``doc``, or ``_MISSING``."""
    value = doc
    for token in _path_tokens(path):
        if isinstance(value, dict):
            key = str(token)
            if key not in value:
                return _MISSING
            value = value[key]
        elif isinstance(value, list) and isinstance(token, int):
            if token >= len(value):
                return _MISSING
            value = value[token]
        else:
            return _MISSING
    return value


def _next_link(header: str | None) -> str | None:
    """The ``rel="next"`` target of an RFC 8288 ``Link`` header."""
    if not header:
        return None
    for match in re.finditer(r"<([^>]*)>((?:\s*;\s*[^;,]*)*)", header):
        target, params = match.group(1), match.group(2)
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if (
                key.strip().lower() == "rel"
                and "next" in value.strip().strip("\"'").lower().split()
            ):
                return target.strip()
    return None


def _cursor_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))


def _max_cursor(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return b if _cursor_key(b) > _cursor_key(a) else a


class _TokenBucket:
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


# ---------------------------------------------------------------------------------------------
# the connector


@register
class HttpConnector(HttpTransport, Connector):
    """Records of a JSON API, page by page."""

    kind = "http"
    required = ("url",)
    optional = (
        "method", "params", "headers", "body", "records_path", "pagination", "auth", "retry",
        "rate_limit", "rate_limit_burst", "timeout", "verify", "incremental", "flatten", "max_pages",
    )  # fmt: skip
    sections = {
        "pagination": Section(frozenset({"in"}), by="type", variants=_PAGINATION_KEYS),
        "auth": Section(by="type", variants=_AUTH_KEYS),
        "retry": Section(frozenset(_RETRY_KEYS)),
        "incremental": Section(frozenset(_INCREMENTAL_KEYS)),
    }

    def __init__(
        self,
        source: str,
        table: str,
        config: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(source, table, config, env)
        self._conns: dict[tuple, http.client.HTTPConnection] = {}
        self._proxy_headers: dict[tuple, dict[str, str]] = {}
        self._bucket: _TokenBucket | None = None
        self._secrets: list[str] = []
        self._secret_params: set[str] = set()
        self._auth_headers: dict[str, str] = {}
        self._auth_query: dict[str, str] = {}
        self._auth_vars: list[str] = []
        self._parse_config()

    # -- configuration ------------------------------------------------------------------------

    def _config_error(self, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"source `{self.name}` (http): {message}", node=self.name, hint=hint)

    def _section(self, key: str, allowed: set[str]) -> dict[str, Any]:
        value = self.config.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._config_error(f"`{key}` must be a mapping, got {type(value).__name__}")
        for name in value:
            if name not in allowed:
                raise self._config_error(
                    f"`{key}` does not take `{name}`" + did_you_mean(str(name), allowed),
                    hint="keys: " + ", ".join(sorted(allowed)),
                )
        return dict(value)

    def _number(
        self,
        value: Any,
        what: str,
        *,
        integer: bool = False,
        minimum: float = 0,
        allow_zero: bool = False,
    ) -> Any:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and integer:
            ok = float(value).is_integer()
        if ok:
            ok = value >= minimum if allow_zero else value > minimum
        if not ok:
            kind = "an integer" if integer else "a number"
            bound = f">= {minimum}" if allow_zero else f"> {minimum}"
            raise self._config_error(f"`{what}` must be {kind} {bound}, got {value!r}")
        return int(value) if integer else float(value)

    def _parse_config(self) -> None:
        cfg = self.config
        method = str(cfg.get("method") or "GET").upper()
        if method not in ("GET", "POST"):
            raise self._config_error(f"`method` must be GET or POST, got `{cfg.get('method')}`")
        self.method = method
        self.body = cfg.get("body")
        if self.body is not None and method != "POST":
            raise self._config_error("`body` is sent only with `method: POST`")
        if self.body is not None and not isinstance(self.body, (dict, list)):
            raise self._config_error("`body` must be a JSON object or array")

        params = cfg.get("params") or {}
        if not isinstance(params, Mapping):
            raise self._config_error("`params` must be a mapping of query parameters")
        params = {str(k): v for k, v in params.items()}
        headers = cfg.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise self._config_error("`headers` must be a mapping")
        self.headers = {str(k): str(v) for k, v in headers.items()}

        raw_url = str(cfg["url"])
        used: set[str] = set()
        pieces = []
        try:
            parsed = list(string.Formatter().parse(raw_url))
        except ValueError as e:
            raise self._config_error(f"`url` has a malformed `{{...}}` placeholder: {e}") from None
        for literal, field_name, _, _ in parsed:
            pieces.append(literal)
            if field_name is None:
                continue
            if field_name not in params:
                raise self._config_error(
                    f"`url` uses `{{{field_name}}}` but `params` has no `{field_name}`",
                    hint=f"add `params: {{{field_name}: ...}}`",
                )
            used.add(field_name)
            pieces.append(quote(_param_text(params[field_name]), safe=""))
        self.url = "".join(pieces)
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self._config_error(
                f"`url` must be an http:// or https:// URL with a host, got `{raw_url}`"
            )
        self.params = {k: v for k, v in params.items() if k not in used}
        self.origin = _origin(self.url)

        self.records_path = cfg.get("records_path")
        self.flatten = cfg.get("flatten", True)
        if not isinstance(self.flatten, bool):
            raise self._config_error(f"`flatten` must be true or false, got {self.flatten!r}")
        self.max_pages = None
        if cfg.get("max_pages") is not None:
            self.max_pages = self._number(cfg["max_pages"], "max_pages", integer=True)
        self.batch_size = None
        if cfg.get("batch_size") is not None:
            self.batch_size = self._number(cfg["batch_size"], "batch_size", integer=True)
        self.timeout = self._number(cfg.get("timeout", 30), "timeout")
        self.rate = None
        if cfg.get("rate_limit") is not None:
            self.rate = self._number(cfg["rate_limit"], "rate_limit")
        self.burst = self._number(
            cfg.get("rate_limit_burst", 1), "rate_limit_burst", minimum=1, allow_zero=True
        )
        self.verify = cfg.get("verify", True)
        if not isinstance(self.verify, (bool, str)):
            raise self._config_error("`verify` must be true, false or the path of a CA bundle")
        if self.records_path is not None and not isinstance(self.records_path, str):
            raise self._config_error("`records_path` must be a dotted path such as `data.items`")

        retry = self._section("retry", _RETRY_KEYS)
        self.max_attempts = self._number(
            retry.get("max_attempts", 5), "retry.max_attempts", integer=True
        )
        self.backoff = self._number(retry.get("backoff", 0.5), "retry.backoff", allow_zero=True)
        self.max_backoff = self._number(
            retry.get("max_backoff", 30), "retry.max_backoff", allow_zero=True
        )
        self.max_retry_after = self._number(
            retry.get("max_retry_after", 300), "retry.max_retry_after", allow_zero=True
        )

        self._parse_pagination()
        self._parse_incremental()
        self._parse_auth()
        self.lag = None
        if cfg.get("lag") not in (None, "", 0):
            from headwater.extract.sql import parse_lag

            try:
                self.lag = parse_lag(cfg["lag"])
            except ValueError as e:
                raise self._config_error(
                    f"`lag`: {e}", hint="e.g. `lag: PT1H`, `lag: 2 days` or `lag: 100`"
                ) from None

    def _parse_pagination(self) -> None:
        raw = self.config.get("pagination")
        if raw is None or raw == "none" or raw is False:
            raw = {"type": "none"}
        if isinstance(raw, str):
            raw = {"type": raw}
        if not isinstance(raw, Mapping):
            raise self._config_error("`pagination` must be a mapping with a `type`")
        kind = raw.get("type", "none")
        if kind not in _PAGINATION_KEYS:
            raise self._config_error(
                f"unknown pagination type `{kind}`" + did_you_mean(str(kind), _PAGINATION_KEYS),
                hint="types: " + ", ".join(_PAGINATION_KEYS),
            )
        allowed = _PAGINATION_KEYS[kind] | {"type", "in"}
        p = (
            self._section("pagination", allowed)
            if isinstance(self.config.get("pagination"), Mapping)
            else dict(raw)
        )
        p["type"] = kind
        where = p.get("in", "query")
        if where not in ("query", "body"):
            raise self._config_error(f"`pagination.in` must be query or body, got `{where}`")
        if where == "body" and self.method != "POST":
            raise self._config_error("`pagination.in: body` needs `method: POST`")
        for key in ("page_size", "limit"):
            if key in p:
                p[key] = self._number(p[key], f"pagination.{key}", integer=True)
        if p.get("page_size") and not p.get("size_param"):
            raise self._config_error(
                "`pagination.page_size` is sent only with `size_param`",
                hint="add `size_param: per_page` (the API's name for the page size)",
            )
        if "start" in p:
            p["start"] = self._number(p["start"], "pagination.start", integer=True, allow_zero=True)
        self.pagination = p

    def _parse_incremental(self) -> None:
        inc = self._section("incremental", _INCREMENTAL_KEYS)
        if inc and not inc.get("cursor_field"):
            raise self._config_error(
                "`incremental` needs `cursor_field` (the field of each record to track)"
            )
        where = inc.get("in", "query")
        if where not in ("query", "body"):
            raise self._config_error(f"`incremental.in` must be query or body, got `{where}`")
        if where == "body" and self.method != "POST":
            raise self._config_error("`incremental.in: body` needs `method: POST`")
        self.incremental = inc

    def _auth_secret(self, auth: Mapping[str, Any], key: str) -> str:
        var = auth.get(f"{key}_env")
        if not var:
            raise self._config_error(
                f"`auth` ({auth.get('type')}) needs `{key}_env`, the environment variable holding the {key}"
            )
        value = self.env.get(str(var))
        if value is None:
            raise self._config_error(
                f"`auth` reads the {key} from the environment variable `{var}`, which is not set",
                hint=f"export {var}=...",
            )
        self._auth_vars.append(str(var))
        if value:
            self._secrets.append(value)
        return value

    def _parse_auth(self) -> None:
        raw = self.config.get("auth")
        if raw is None:
            return
        if not isinstance(raw, Mapping):
            raise self._config_error("`auth` must be a mapping with a `type`")
        kind = raw.get("type")
        for literal in ("token", "password", "value", "api_key", "secret"):
            if literal in raw:
                raise self._config_error(
                    f"`auth.{literal}` would put a secret in the project file",
                    hint=f"put it in an environment variable and name it with `{literal}_env`"
                    if literal != "api_key"
                    else "put it in an environment variable and name it with `value_env`",
                )
        if kind not in _AUTH_KEYS:
            raise self._config_error(
                f"unknown auth type `{kind}`" + did_you_mean(str(kind), _AUTH_KEYS),
                hint="types: bearer (token_env), basic (username, password_env), api_key (name, in, value_env)",
            )
        auth = self._section("auth", _AUTH_KEYS[kind] | {"type"})
        if kind == "bearer":
            token = self._auth_secret(auth, "token")
            self._auth_headers["Authorization"] = f"Bearer {token}"
        elif kind == "basic":
            if auth.get("username_env"):
                username = self._auth_secret(auth, "username")
            elif auth.get("username") is not None:
                username = str(auth["username"])
            else:
                raise self._config_error("`auth` (basic) needs `username` or `username_env`")
            password = self._auth_secret(auth, "password")
            encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
            self._secrets.append(encoded)
            self._auth_headers["Authorization"] = f"Basic {encoded}"
        else:
            name = auth.get("name")
            if not name:
                raise self._config_error(
                    "`auth` (api_key) needs `name`, the header or query parameter"
                )
            where = auth.get("in", "header")
            if where not in ("header", "query"):
                raise self._config_error(f"`auth.in` must be header or query, got `{where}`")
            value = self._auth_secret(auth, "value")
            if where == "header":
                self._auth_headers[str(name)] = value
            else:
                self._auth_query[str(name)] = value
                self._secret_params.add(str(name))

    # -- redaction ----------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        """``text`` with this source's secrets masked as whole tokens (`headwater.secrets`)."""
        from headwater import secrets

        for secret in self._secrets:
            secrets.register(secret)
        return secrets.mask(text)

    def _show(self, url: str) -> str:
        """``url`` as it may be shown to users: secret query parameters masked."""
        parts = urlsplit(url)
        if parts.query and self._secret_params:
            query = [
                (k, "***" if k in self._secret_params else v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
            ]
            url = urlunsplit(parts._replace(query=urlencode(query, safe="*")))
        return self._redact(url)

    def _error(
        self, message: str, hint: str | None = None, *, transient: bool = False
    ) -> ConnectorError:
        cls = TransientConnectorError if transient else ConnectorError
        return cls(
            self._redact(f"source `{self.name}`: {message}"),
            node=self.name,
            hint=self._redact(hint) if hint else None,
        )

    # -- pages --------------------------------------------------------------------------------

    def _parse(self, resp: _Response) -> Any:
        if not resp.body.strip():
            return None
        try:
            return json.loads(resp.body)
        except (ValueError, UnicodeDecodeError) as e:
            start = resp.body[:120].decode("utf-8", "replace")
            raise self._error(
                f"the response of {self._show(resp.url)} (HTTP {resp.status}) is not valid JSON "
                f"({e}); it starts with {start!r}",
                hint="check that `url` is a JSON endpoint (content type "
                f"{resp.headers.get('Content-Type') or 'not given'})",
            ) from None

    def _records(self, doc: Any, resp: _Response) -> list[Any]:
        if doc is None:
            return []
        if self.records_path:
            value = _get_path(doc, str(self.records_path))
            if value is _MISSING:
                keys = (
                    ", ".join(f"`{k}`" for k in list(doc)[:20])
                    if isinstance(doc, dict)
                    else type(doc).__name__
                )
                raise self._error(
                    f"`records_path` `{self.records_path}` is not in the response of {self._show(resp.url)}",
                    hint=f"the response has: {keys}",
                )
            if value is None:
                return []
            if isinstance(value, list):
                return value
            return [value]
        if isinstance(doc, list):
            return doc
        if isinstance(doc, dict):
            for value in doc.values():
                if isinstance(value, list):
                    return value
            if self.pagination["type"] == "none":
                return [doc]
            raise self._error(
                f"the response of {self._show(resp.url)} has no list of records",
                hint="set `records_path` to the key holding the records (e.g. `data.items`)",
            )
        raise self._error(
            f"the response of {self._show(resp.url)} is a JSON {type(doc).__name__}, not records",
            hint="set `records_path`",
        )

    def _lagged(self, value: Any) -> Any:
        """The committed cursor minus `lag`, in the cursor's own JSON form (ISO text stays text)."""
        if self.lag is None or value is None:
            return value
        from datetime import date, timedelta

        from headwater.extract.sql import apply_lag

        if not isinstance(value, str):
            return apply_lag(value, self.lag, self.name)
        text = value.strip()
        if not isinstance(self.lag, timedelta):
            try:
                return str(apply_lag(int(text), self.lag, self.name))
            except ValueError:
                pass
        try:
            if len(text) <= 10:
                day = date.fromisoformat(text)
                return apply_lag(day, self.lag, self.name).isoformat()
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return apply_lag(value, self.lag, self.name)  # the error names the value
        shifted = apply_lag(moment, self.lag, self.name)
        out = shifted.isoformat(sep="T" if "T" in text.upper() else " ")
        if text[-1:] in ("Z", "z") and out.endswith("+00:00"):
            out = out[: -len("+00:00")] + "Z"
        return out

    def _request_parts(self, extra: Mapping[str, Any], where: str) -> tuple[dict[str, Any], Any]:
        """Query parameters and body for the first-style pages (query-string pagination)."""
        query = dict(self.params)
        body = json.loads(json.dumps(self.body)) if self.body is not None else None
        if where == "body":
            body = dict(body or {})
            body.update(extra)
        else:
            query.update(extra)
        return query, body

    def _pages(self, state: ExtractState) -> Iterator[tuple[_Response, list[Any]]]:
        p = self.pagination
        kind = p["type"]
        where = p.get("in", "query")
        inc_params: dict[str, Any] = {}
        inc_body: dict[str, Any] = {}
        if self.incremental.get("param"):
            value = (
                self._lagged(state.cursor)
                if state.cursor is not None
                else self.incremental.get("initial")
            )
            if value is not None:
                target = inc_body if self.incremental.get("in") == "body" else inc_params
                target[str(self.incremental["param"])] = value

        page_extra: dict[str, Any] = {}
        if kind == "page_number":
            page = p.get("start", 1)
            page_extra[p.get("page_param", "page")] = page
            if p.get("size_param") and p.get("page_size"):
                page_extra[p["size_param"]] = p["page_size"]
        elif kind == "offset":
            offset = p.get("start", 0)
            page_extra[p.get("offset_param", "offset")] = offset
            page_extra[p.get("limit_param", "limit")] = p.get("limit", 100)

        query, body = self._request_parts(page_extra, where)
        query.update(inc_params)
        if inc_body:
            body = dict(body or {})
            body.update(inc_body)
        url = _with_query(self.url, query)
        method = self.method
        pages = 0
        received = 0
        previous_cursors: set[str] = set()
        while True:
            if self.max_pages is not None and pages >= self.max_pages:
                return
            resp = self._fetch(method, url, body)
            doc = self._parse(resp)
            records = self._records(doc, resp)
            pages += 1
            received += len(records)
            log.debug("%s: %s %s -> %d records", self.name, method, self._show(url), len(records))
            yield resp, records

            if kind == "none":
                return
            if kind in ("page_number", "offset"):
                if not records:
                    return
                total = _get_path(doc, p["total_path"]) if p.get("total_path") else _MISSING
                if kind == "page_number":
                    page += 1
                    page_extra[p.get("page_param", "page")] = page
                    if (
                        isinstance(total, (int, float))
                        and not isinstance(total, bool)
                        and page - p.get("start", 1) >= total
                    ):
                        return
                else:
                    offset += len(records)
                    page_extra[p.get("offset_param", "offset")] = offset
                    if (
                        isinstance(total, (int, float))
                        and not isinstance(total, bool)
                        and offset >= total
                    ):
                        return
                query, body = self._request_parts(page_extra, where)
                query.update(inc_params)
                if inc_body:
                    body = dict(body or {})
                    body.update(inc_body)
                url = _with_query(self.url, query)
            elif kind == "cursor":
                cursor = _get_path(doc, p.get("cursor_path", "next_cursor"))
                if cursor is _MISSING or cursor is None or cursor == "":
                    return
                token = json.dumps(cursor, sort_keys=True)
                if token in previous_cursors:
                    raise self._error(
                        f"the API returned the cursor {self._redact(str(cursor))!r} twice; stopping to avoid a loop",
                        hint="check `pagination.cursor_path`",
                    )
                previous_cursors.add(token)
                query, body = self._request_parts({p.get("cursor_param", "cursor"): cursor}, where)
                query.update(inc_params)
                if inc_body:
                    body = dict(body or {})
                    body.update(inc_body)
                url = _with_query(self.url, query)
            else:
                if kind == "link_header":
                    target = _next_link(resp.headers.get("Link"))
                else:
                    found = _get_path(doc, p.get("next_url_path", "next"))
                    target = found if isinstance(found, str) and found else None
                if not target:
                    return
                next_url = urljoin(resp.url, target)
                if next_url in previous_cursors:
                    raise self._error(
                        f"the next page link points back to {self._show(next_url)}; stopping to avoid a loop"
                    )
                previous_cursors.add(next_url)
                url = next_url

    # -- the seam -----------------------------------------------------------------------------

    @property
    def atomic(self) -> bool:
        """Without an incremental cursor a retry starts again from the first page, so the pages
        of a run are loaded all together or not at all."""
        return not self.incremental.get("cursor_field")

    def hints(self) -> dict[str, Any]:
        """Without an incremental cursor every run reads the whole collection: it replaces the
        table (swapped in once every page has arrived) unless the table sets `write_disposition`."""
        return {} if self.incremental.get("cursor_field") else {"write_disposition": "replace"}

    def check(self) -> None:
        self._bucket = _TokenBucket(self.rate, self.burst) if self.rate else None
        try:
            pages = self._pages(ExtractState())
            try:
                next(pages, None)
            finally:
                pages.close()
        finally:
            self.close()

    def extract(self, state: ExtractState) -> Iterator[Batch]:
        self._bucket = _TokenBucket(self.rate, self.burst) if self.rate else None
        builder = TableBuilder(self.flatten)
        cursor_field = self.incremental.get("cursor_field")
        running: Any = None
        pending: Batch | None = None
        rows: list[dict[str, Any]] = []
        rejected: list[Rejected] = []

        def make(chunk: list[dict[str, Any]], bad: list[Rejected]) -> Batch:
            nonlocal running
            if cursor_field:
                for record in chunk:
                    value = _get_path(record, str(cursor_field))
                    if value is not _MISSING and value is not None:
                        running = _max_cursor(running, value)
            return Batch(table=builder.build(chunk), cursor=running, rejected=bad, final=False)

        try:
            for page_no, (resp, records) in enumerate(self._pages(state), start=1):
                shown = self._show(resp.url)
                for index, record in enumerate(records):
                    if isinstance(record, dict):
                        rows.append(record)
                    else:
                        kind = "null" if record is None else type(record).__name__
                        rejected.append(
                            Rejected(
                                raw=self._redact(json.dumps(record, ensure_ascii=False)),
                                reason=f"record {index} of page {page_no} is a JSON {kind}, not an object",
                                source_file=shown,
                                line=index,
                            )
                        )
                size = self.batch_size
                while rows and (size is None or len(rows) >= size):
                    chunk = rows if size is None else rows[:size]
                    rows = [] if size is None else rows[size:]
                    batch = make(chunk, rejected)
                    rejected = []
                    if pending is not None:
                        yield pending
                    pending = batch
            if rows or rejected or pending is None:
                batch = make(rows, rejected)
                if pending is not None:
                    yield pending
                pending = batch
            pending.final = True
            yield pending
        finally:
            self.close()
