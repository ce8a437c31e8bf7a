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
import email.utils
import gzip
import http.client
import json
import logging
import math
import random
import re
import socket
import ssl
import string
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import (
    parse_qsl,
    quote,
    unquote,
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
from headwater.extract.keys import Section

if TYPE_CHECKING:
    import pyarrow as pa

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
_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_REDIRECTS = 10
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


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _with_query(url: str, params: Mapping[str, Any]) -> str:
    """``url`` with ``params`` set (replacing parameters of the same name already in it)."""
    if not params:
        return url
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            kept.extend((key, _param_text(v)) for v in value)
        else:
            kept.append((key, _param_text(value)))
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _origin(url: str) -> tuple[str, str, int | None]:
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


@dataclass
class _Response:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes
    url: str


# ---------------------------------------------------------------------------------------------
# JSON -> Arrow, with one schema for the whole run

_NULL, _BOOL, _INT, _FLOAT, _STR = "null", "bool", "int", "float", "str"
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _infer(value: Any) -> Any:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _INT if _INT_MIN <= value <= _INT_MAX else _STR
    if isinstance(value, float):
        return _FLOAT
    if isinstance(value, str):
        return _STR
    if isinstance(value, list):
        element: Any = _NULL
        for item in value:
            element = _unify(element, _infer(item))
        return ("list", element)
    if isinstance(value, dict):
        return ("struct", tuple((str(k), _infer(v)) for k, v in value.items()))
    return _STR


def _unify(a: Any, b: Any) -> Any:
    if a == b:
        return a
    if a == _NULL:
        return b
    if b == _NULL:
        return a
    if {a, b} == {_INT, _FLOAT}:
        return _FLOAT
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
        if a[0] == "list":
            return ("list", _unify(a[1], b[1]))
        fields = dict(a[1])
        for name, kind in b[1]:
            fields[name] = _unify(fields[name], kind) if name in fields else kind
        return ("struct", tuple(fields.items()))
    return _STR


def _arrow_type(kind: Any) -> pa.DataType:
    import pyarrow as pa

    if kind == _NULL:
        return pa.null()
    if kind == _BOOL:
        return pa.bool_()
    if kind == _INT:
        return pa.int64()
    if kind == _FLOAT:
        return pa.float64()
    if kind == _STR:
        return pa.string()
    if kind[0] == "list":
        return pa.list_(_arrow_type(kind[1]))
    return pa.struct([pa.field(name, _arrow_type(k)) for name, k in kind[1]])


def _concrete(kind: Any) -> Any:
    """``kind`` without the parts only ever seen as null (or ``[]`` / ``{}``), or None if nothing
    is left: DuckDB would make such a column of type "NULL", which no later value fits."""
    if kind == _NULL:
        return None
    if isinstance(kind, tuple):
        if kind[0] == "list":
            inner = _concrete(kind[1])
            return None if inner is None else ("list", inner)
        fields = tuple((name, c) for name, k in kind[1] if (c := _concrete(k)) is not None)
        return ("struct", fields) if fields else None
    return kind


def _has_text(kind: Any) -> bool:
    if kind == _STR:
        return True
    if isinstance(kind, tuple):
        if kind[0] == "list":
            return _has_text(kind[1])
        return any(_has_text(k) for _, k in kind[1])
    return False


def _coerce(value: Any, kind: Any) -> Any:
    """``value`` shaped for the Arrow type of ``kind`` (mixed values become JSON text)."""
    if value is None:
        return None
    if kind == _STR:
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(kind, tuple):
        if kind[0] == "list":
            return [_coerce(v, kind[1]) for v in value]
        return {name: _coerce(value.get(name), k) for name, k in kind[1]}
    return value


def _flatten(
    record: Mapping[str, Any], prefix: str = "", out: dict[str, Any] | None = None
) -> dict[str, Any]:
    out = {} if out is None else out
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            _flatten(value, name + "__", out)
        elif isinstance(value, dict):
            out[name] = None
        else:
            out[name] = value
    return out


class _TableBuilder:
    """Builds Arrow tables from JSON objects, keeping one growing schema across batches.

    A column (or struct field) seen only as null, ``[]`` or ``{}`` so far is left out until a value
    gives it a type (as dlt does); from then on it is in every batch."""

    def __init__(self, flatten: bool) -> None:
        self.flatten = flatten
        self.columns: dict[str, Any] = {}

    def build(self, records: list[dict[str, Any]]) -> pa.Table:
        import pyarrow as pa

        rows = [_flatten(r) for r in records] if self.flatten else records
        columns = self.columns
        for row in rows:
            for key, value in row.items():
                kind = _infer(value)
                old = columns.get(key, _MISSING)
                if old is _MISSING:
                    columns[key] = kind
                elif old != kind:
                    columns[key] = _unify(old, kind)
        arrays, fields = [], []
        for name, seen in columns.items():
            kind = _concrete(seen)
            if kind is None:
                continue  # only nulls so far: the column appears with its first value
            values = [row.get(name) for row in rows]
            if _has_text(kind):
                values = [_coerce(v, kind) for v in values]
            arrow_type = _arrow_type(kind)
            arrays.append(pa.array(values, type=arrow_type))
            fields.append(pa.field(name, arrow_type))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


# ---------------------------------------------------------------------------------------------
# the connector


@register
class HttpConnector(Connector):
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

    # -- transport ----------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        if self.verify is False:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        if isinstance(self.verify, str):
            return ssl.create_default_context(cafile=self.verify)
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
        if proxy:
            pp = urlsplit(proxy)
            proxy_host, proxy_port = pp.hostname or "", pp.port or 8080
            proxy_headers = {}
            if pp.username:
                creds = f"{unquote(pp.username)}:{unquote(pp.password or '')}"
                token = base64.b64encode(creds.encode()).decode("ascii")
                self._secrets.extend([pp.password or "", token] if pp.password else [token])
                proxy_headers["Proxy-Authorization"] = f"Basic {token}"
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    proxy_host, proxy_port, timeout=self.timeout, context=self._ssl_context()
                )
                conn.set_tunnel(host, port, headers=proxy_headers)
            else:
                conn = http.client.HTTPConnection(proxy_host, proxy_port, timeout=self.timeout)
                self._proxy_headers[key] = proxy_headers
        elif scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=self.timeout, context=self._ssl_context()
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
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

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> _Response:
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
                raise self._error(
                    f"the response of {self._show(url)} could not be decompressed ({encoding}): {e}"
                ) from None
            return _Response(resp.status, resp.reason, resp.headers, data, url)
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange(self, method: str, url: str, body: bytes | None) -> _Response:
        """One request with its redirects; credentials go only to the configured origin."""
        for _ in range(_MAX_REDIRECTS + 1):
            same_origin = _origin(url) == self.origin
            if same_origin and self._auth_query:
                url = _with_query(url, self._auth_query)
            headers = {
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
                "User-Agent": "headwater",
            }
            headers.update(self.headers)
            if body is not None:
                headers["Content-Type"] = "application/json"
            if same_origin:
                headers.update(self._auth_headers)
            elif self._auth_headers or self._auth_query:
                log.debug(
                    "%s: not sending credentials to %s (another origin)", self.name, _origin(url)[1]
                )
            resp = self._send(method, url, headers, body)
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECTS or not location:
                return resp
            log.debug("%s: %s %s -> %s", self.name, method, self._show(url), resp.status)
            url = urljoin(url, location)
            if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                method, body = "GET", None
        raise self._error(f"more than {_MAX_REDIRECTS} redirects from {self._show(url)}")

    def _delay(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return random.uniform(base / 2, base)

    def _fetch(self, method: str, url: str, body: Any) -> _Response:
        """One page, with rate limiting, retries, and the errors users can act on."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        host = urlsplit(url).hostname or ""
        port = _origin(url)[2]
        attempt = 0
        while True:
            attempt += 1
            if self._bucket is not None:
                self._bucket.acquire()
            try:
                resp = self._exchange(method, url, data)
            except ConnectorError:
                raise
            except ssl.SSLCertVerificationError as e:
                raise self._error(
                    f"the TLS certificate of {host} was rejected: {e.verify_message or e.reason}",
                    hint="check the host name in `url`, the server's certificate, or set `verify` to a CA bundle path",
                ) from None
            except ssl.SSLError as e:
                raise self._error(
                    f"TLS handshake with {host}:{port} failed: {e.reason or e}",
                    hint="check that the server speaks HTTPS on this port (or use http://) and its TLS settings",
                ) from None
            except socket.gaierror as e:
                if e.errno != socket.EAI_AGAIN:
                    raise self._error(
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
                problem = f"{host}:{port} did not answer within {self.timeout:g}s"
                what = "check the server, or raise `timeout`"
            except (OSError, http.client.HTTPException) as e:
                problem = f"connection to {host}:{port} failed ({type(e).__name__}: {e})"
                what = "check the server, the network and the `url`"
            else:
                status = resp.status
                if status == 429 or 500 <= status <= 599:
                    shown = f"HTTP {status} {resp.reason}".strip()
                    if attempt >= self.max_attempts:
                        raise self._error(
                            f"gave up after {attempt} attempts on {self._show(url)}: last response {shown}",
                            hint="the API is overloaded or failing; retry later, lower `rate_limit` or raise `retry.max_attempts`",
                            transient=True,
                        )
                    wait = _retry_after(resp.headers.get("Retry-After"))
                    if wait is not None and wait > self.max_retry_after:
                        raise self._error(
                            f"{self._show(url)} answered {shown} and asks to wait {wait:.0f}s "
                            f"(more than retry.max_retry_after = {self.max_retry_after:g}s)",
                            hint="retry later, or raise `retry.max_retry_after`",
                            transient=True,
                        )
                    if wait is None:
                        wait = self._delay(attempt)
                    log.warning(
                        "%s: %s from %s, retrying in %.2fs (attempt %d of %d)",
                        self.name, shown, self._redact(host), wait, attempt + 1, self.max_attempts,
                    )  # fmt: skip
                    time.sleep(wait)
                    continue
                self._check_status(resp)
                return resp
            if attempt >= self.max_attempts:
                raise self._error(
                    f"{problem} (after {attempt} attempts)", hint=what, transient=True
                )
            wait = self._delay(attempt)
            log.warning(
                "%s: %s, retrying in %.2fs (attempt %d of %d)",
                self.name,
                problem,
                wait,
                attempt + 1,
                self.max_attempts,
            )
            time.sleep(wait)

    def _check_status(self, resp: _Response) -> None:
        status = resp.status
        if status < 400:
            return
        parts = urlsplit(resp.url)
        shown = f"HTTP {status} {resp.reason}".strip()
        if status in (401, 403):
            if _origin(resp.url) != self.origin:
                hint = f"{parts.hostname} is not the origin of `url`, so no credentials were sent to it"
            elif self._auth_vars:
                names = " and ".join(f"`{v}`" for v in self._auth_vars)
                hint = f"check the environment variable {names} and the `auth` settings ({self.config['auth'].get('type')})"
            else:
                hint = "the API needs credentials: add `auth:` (bearer, basic or api_key) reading the secret from an environment variable"
            raise self._error(
                f"credentials rejected by {parts.hostname} ({shown}) for `{parts.path or '/'}`",
                hint=hint,
            )
        if status == 404:
            raise self._error(
                f"not found ({shown}) at {parts.hostname}: path `{parts.path or '/'}`",
                hint="check `url` (and its `{...}` params)",
            )
        snippet = resp.body[:300].decode("utf-8", "replace").strip()
        raise self._error(
            f"{self._show(resp.url)} answered {shown}" + (f": {snippet}" if snippet else ""),
            hint="check `params`, `headers`, `body` and the API's documentation",
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
        builder = _TableBuilder(self.flatten)
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
