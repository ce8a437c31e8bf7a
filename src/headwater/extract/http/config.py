"""The configuration of the `http` connector, read once: `read_settings` checks the source's
``connection:`` merged with the table's ``extract:`` (every key is documented in
`headwater.extract.http`) and returns `HttpSettings`, or raises a `ConfigError` naming the key.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from headwater.errors import ConfigError, did_you_mean
from headwater.extract.cursors import Lag, parse_lag
from headwater.extract.http.auth import Credentials, read_auth
from headwater.extract.http.transport import Origin, origin_of, param_text

PAGINATION_KEYS: dict[str, set[str]] = {
    "none": set(),
    "page_number": {"page_param", "start", "size_param", "page_size", "total_path"},
    "offset": {"offset_param", "limit_param", "limit", "start", "total_path"},
    "cursor": {"cursor_path", "cursor_param"},
    "next_url": {"next_url_path"},
    "link_header": set(),
}
"""The keys of each pagination type (besides `type` and `in`)."""
RETRY_KEYS = {"max_attempts", "backoff", "max_backoff", "max_retry_after"}
INCREMENTAL_KEYS = {"cursor_field", "param", "initial", "in"}


class ConfigReader:
    """Checks of one source table's config, with errors that name the source and the key."""

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        self.name = name
        self.config = config

    def error(self, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"source `{self.name}` (http): {message}", node=self.name, hint=hint)

    def section(self, key: str, allowed: set[str]) -> dict[str, Any]:
        """The mapping under ``key`` (empty when absent), holding only ``allowed`` keys."""
        value = self.config.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(f"`{key}` must be a mapping, got {type(value).__name__}")
        for name in value:
            if name not in allowed:
                raise self.error(
                    f"`{key}` does not take `{name}`" + did_you_mean(str(name), allowed),
                    hint="keys: " + ", ".join(sorted(allowed)),
                )
        return dict(value)

    def _checked(
        self, value: Any, what: str, integer: bool, minimum: float, allow_zero: bool
    ) -> int | float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and integer:
            ok = float(value).is_integer()
        if ok:
            ok = value >= minimum if allow_zero else value > minimum
        if not ok:
            kind = "an integer" if integer else "a number"
            bound = f">= {minimum}" if allow_zero else f"> {minimum}"
            raise self.error(f"`{what}` must be {kind} {bound}, got {value!r}")
        return int(value) if integer else float(value)

    def number(
        self, value: Any, what: str, *, minimum: float = 0, allow_zero: bool = False
    ) -> float:
        """``value`` as a float above ``minimum`` (or equal to it with ``allow_zero``)."""
        return float(self._checked(value, what, False, minimum, allow_zero))

    def integer(
        self, value: Any, what: str, *, minimum: float = 0, allow_zero: bool = False
    ) -> int:
        """``value`` as an integer above ``minimum`` (or equal to it with ``allow_zero``)."""
        return int(self._checked(value, what, True, minimum, allow_zero))


@dataclass
class HttpSettings:
    """The checked configuration of one `http` source table."""

    method: str
    body: dict[str, Any] | list[Any] | None
    """The JSON body of a POST."""
    headers: dict[str, str]
    url: str
    """The URL with its ``{name}`` placeholders filled in."""
    params: dict[str, Any]
    """Query parameters (those not used by a placeholder)."""
    origin: Origin
    records_path: str | None
    flatten: bool
    max_pages: int | None
    batch_size: int | None
    timeout: float
    rate: float | None
    """Requests per second (None: no limit)."""
    burst: float
    verify: bool | str
    max_attempts: int
    backoff: float
    max_backoff: float
    max_retry_after: float
    pagination: dict[str, Any]
    """`pagination:` with its `type` always set."""
    incremental: dict[str, Any]
    credentials: Credentials
    lag: Lag | None


def read_settings(name: str, config: Mapping[str, Any], env: Mapping[str, str]) -> HttpSettings:
    """The settings of source table ``name`` (checked in the order of the keys' documentation)."""
    r = ConfigReader(name, config)
    cfg = config
    method = str(cfg.get("method") or "GET").upper()
    if method not in ("GET", "POST"):
        raise r.error(f"`method` must be GET or POST, got `{cfg.get('method')}`")
    body = cfg.get("body")
    if body is not None and method != "POST":
        raise r.error("`body` is sent only with `method: POST`")
    if body is not None and not isinstance(body, (dict, list)):
        raise r.error("`body` must be a JSON object or array")

    raw_params = cfg.get("params") or {}
    if not isinstance(raw_params, Mapping):
        raise r.error("`params` must be a mapping of query parameters")
    params = {str(k): v for k, v in raw_params.items()}
    raw_headers = cfg.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        raise r.error("`headers` must be a mapping")
    headers = {str(k): str(v) for k, v in raw_headers.items()}

    url, used = _url(r, str(cfg["url"]), params)

    records_path = cfg.get("records_path")
    flatten = cfg.get("flatten", True)
    if not isinstance(flatten, bool):
        raise r.error(f"`flatten` must be true or false, got {flatten!r}")
    max_pages = None
    if cfg.get("max_pages") is not None:
        max_pages = r.integer(cfg["max_pages"], "max_pages")
    batch_size = None
    if cfg.get("batch_size") is not None:
        batch_size = r.integer(cfg["batch_size"], "batch_size")
    timeout = r.number(cfg.get("timeout", 30), "timeout")
    rate = None
    if cfg.get("rate_limit") is not None:
        rate = r.number(cfg["rate_limit"], "rate_limit")
    burst = r.number(cfg.get("rate_limit_burst", 1), "rate_limit_burst", minimum=1, allow_zero=True)
    verify = cfg.get("verify", True)
    if not isinstance(verify, (bool, str)):
        raise r.error("`verify` must be true, false or the path of a CA bundle")
    if records_path is not None and not isinstance(records_path, str):
        raise r.error("`records_path` must be a dotted path such as `data.items`")

    retry = r.section("retry", RETRY_KEYS)
    max_attempts = r.integer(retry.get("max_attempts", 5), "retry.max_attempts")
    backoff = r.number(retry.get("backoff", 0.5), "retry.backoff", allow_zero=True)
    max_backoff = r.number(retry.get("max_backoff", 30), "retry.max_backoff", allow_zero=True)
    max_retry_after = r.number(
        retry.get("max_retry_after", 300), "retry.max_retry_after", allow_zero=True
    )

    pagination = _pagination(r, method)
    incremental = _incremental(r, method)
    credentials = read_auth(r, env)
    lag = None
    if cfg.get("lag") not in (None, "", 0):
        try:
            lag = parse_lag(cfg["lag"])
        except ValueError as e:
            raise r.error(
                f"`lag`: {e}", hint="e.g. `lag: PT1H`, `lag: 2 days` or `lag: 100`"
            ) from None
    return HttpSettings(
        method=method, body=body, headers=headers, url=url,
        params={k: v for k, v in params.items() if k not in used}, origin=origin_of(url),
        records_path=records_path, flatten=flatten, max_pages=max_pages, batch_size=batch_size,
        timeout=timeout, rate=rate, burst=burst, verify=verify, max_attempts=max_attempts,
        backoff=backoff, max_backoff=max_backoff, max_retry_after=max_retry_after,
        pagination=pagination, incremental=incremental, credentials=credentials, lag=lag,
    )  # fmt: skip


def _url(r: ConfigReader, raw_url: str, params: Mapping[str, Any]) -> tuple[str, set[str]]:
    """``url`` with its ``{name}`` placeholders replaced by ``params[name]`` (URL-quoted), and the
    names used."""
    used: set[str] = set()
    pieces = []
    try:
        parsed = list(string.Formatter().parse(raw_url))
    except ValueError as e:
        raise r.error(f"`url` has a malformed `{{...}}` placeholder: {e}") from None
    for literal, field_name, _, _ in parsed:
        pieces.append(literal)
        if field_name is None:
            continue
        if field_name not in params:
            raise r.error(
                f"`url` uses `{{{field_name}}}` but `params` has no `{field_name}`",
                hint=f"add `params: {{{field_name}: ...}}`",
            )
        used.add(field_name)
        pieces.append(quote(param_text(params[field_name]), safe=""))
    url = "".join(pieces)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise r.error(f"`url` must be an http:// or https:// URL with a host, got `{raw_url}`")
    return url, used


def _pagination(r: ConfigReader, method: str) -> dict[str, Any]:
    raw = r.config.get("pagination")
    if raw is None or raw == "none" or raw is False:
        raw = {"type": "none"}
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping):
        raise r.error("`pagination` must be a mapping with a `type`")
    kind = raw.get("type", "none")
    if kind not in PAGINATION_KEYS:
        raise r.error(
            f"unknown pagination type `{kind}`" + did_you_mean(str(kind), PAGINATION_KEYS),
            hint="types: " + ", ".join(PAGINATION_KEYS),
        )
    allowed = PAGINATION_KEYS[kind] | {"type", "in"}
    p = (
        r.section("pagination", allowed)
        if isinstance(r.config.get("pagination"), Mapping)
        else dict(raw)
    )
    p["type"] = kind
    where = p.get("in", "query")
    if where not in ("query", "body"):
        raise r.error(f"`pagination.in` must be query or body, got `{where}`")
    if where == "body" and method != "POST":
        raise r.error("`pagination.in: body` needs `method: POST`")
    for key in ("page_size", "limit"):
        if key in p:
            p[key] = r.integer(p[key], f"pagination.{key}")
    if p.get("page_size") and not p.get("size_param"):
        raise r.error(
            "`pagination.page_size` is sent only with `size_param`",
            hint="add `size_param: per_page` (the API's name for the page size)",
        )
    if "start" in p:
        p["start"] = r.integer(p["start"], "pagination.start", allow_zero=True)
    return p


def _incremental(r: ConfigReader, method: str) -> dict[str, Any]:
    inc = r.section("incremental", INCREMENTAL_KEYS)
    if inc and not inc.get("cursor_field"):
        raise r.error("`incremental` needs `cursor_field` (the field of each record to track)")
    where = inc.get("in", "query")
    if where not in ("query", "body"):
        raise r.error(f"`incremental.in` must be query or body, got `{where}`")
    if where == "body" and method != "POST":
        raise r.error("`incremental.in: body` needs `method: POST`")
    return inc
