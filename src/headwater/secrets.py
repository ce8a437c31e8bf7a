"""Secrets: where they come from, and the one function that keeps them out of every output.

Secrets come only from environment variables: the `*_env` keys of connectors, alert channels and
transports, `dsn_env` connection strings, and `env_var('DBT_ENV_SECRET_…')` in Jinja (dbt's rule).
Whatever reads one calls `from_env` (or `register` for a value derived from one, such as a basic-auth
header), and every output channel passes its text through `mask`: the terminal (the CLI wraps
stdout/stderr), `headwater.log`, the state store, OpenLineage events, alerts and error messages.

`mask` does three things:

* every registered secret is replaced by ``***`` where it occurs as a **whole token** — not inside a
  longer word, so a one-letter password leaves "after" alone — in its raw, URL-encoded and
  JSON-escaped forms;
* URLs lose their userinfo (``postgresql://u:pw@db/x`` → ``postgresql://***@db/x``) and the values
  of secret-looking query parameters (``?api_key=…``, ``X-Amz-Signature=…``);
* key=value connection strings lose their passwords (``password=… `` → ``password=*** ``).

>>> register("s3cr3t")
>>> mask("connect failed: user=etl password=s3cr3t host=db")
'connect failed: user=etl password=*** host=db'
>>> mask("https://bob:pw@api.example.com/v1?page=2&api_key=abc")
'https://***@api.example.com/v1?page=2&api_key=***'
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import IO, Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

MASK = "***"
# env_var() values under these prefixes are secrets (dbt's rule for DBT_ENV_SECRET_).
SECRET_ENV_PREFIXES = ("DBT_ENV_SECRET_", "HEADWATER_SECRET_")

# Query parameters and DSN keys whose values are secrets (compared lower-cased, by suffix: the
# name itself or `<anything>_<name>` / `<anything>-<name>`: client_secret, X-Amz-Signature).
_SECRET_NAMES = (
    "password", "passwd", "pwd", "pass", "secret", "token", "apikey", "api_key", "api-key", "key",
    "signature", "sig", "credential", "credentials", "auth", "authorization", "sslpassword",
)  # fmt: skip
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s/@?#'\"<>]+@)")
_QUERY_PARAM = re.compile(r"([?&;])([^=&\s#'\"<>?]+)=([^&\s#'\"<>]*)")
_KEY_VALUE = re.compile(
    r"(?i)(?<![\w.])((?:ssl)?password|passwd|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s;'\"]+)"
)

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register(value: str | None) -> None:
    """Treat ``value`` as a secret from now on, in this process (empty values are ignored)."""
    global _pattern
    if not value or not value.strip():
        return
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(f for f in forms if f)
        _pattern = None


def forget_all() -> None:
    """Forget every registered secret (tests; a process that starts a new, unrelated job)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def from_env(var: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of environment variable ``var`` (None when unset), registered as a secret."""
    value = (os.environ if environ is None else environ).get(var)
    register(value)
    return value


def register_dsn(dsn: str | None) -> dict[str, str]:
    """Register a connection string's secrets (its password and secret parameters, and the whole
    string) and return its parsed parts (see `parse_dsn`)."""
    if not dsn:
        return {}
    register(dsn)
    parts = parse_dsn(dsn)
    for key, value in parts.items():
        if is_secret_name(key):
            register(value)
    return parts


def parse_dsn(dsn: str) -> dict[str, str]:
    """The parts of a connection string, in either form libpq and most drivers accept.

    >>> parse_dsn("postgresql://etl:p%40ss@db:5432/shop?sslmode=require")["password"]
    'p@ss'
    >>> parse_dsn("host=db user=etl password='it''s' dbname=shop")["password"]
    "it's"
    """
    text = dsn.strip()
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", text):
        return _parse_url_dsn(text)
    return _parse_key_value_dsn(text)


def _parse_url_dsn(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        url = urlsplit(text)
        netloc = url.netloc
    except ValueError:
        return out
    if "@" in netloc:
        userinfo = netloc.rsplit("@", 1)[0]
        user, _, password = userinfo.partition(":")
        out["user"] = unquote(user)
        if password:
            out["password"] = unquote(password)
    host = netloc.rsplit("@", 1)[-1]
    if host:
        out["host"] = host
    if url.path.strip("/"):
        out["dbname"] = unquote(url.path.lstrip("/"))
    for key, value in parse_qsl(url.query, keep_blank_values=True):
        out[key] = value
    return out


def _parse_key_value_dsn(text: str) -> dict[str, str]:
    """libpq's `key=value key2='quoted \\' value'` form."""
    out: dict[str, str] = {}
    pos, n = 0, len(text)
    while pos < n:
        while pos < n and text[pos].isspace():
            pos += 1
        eq = text.find("=", pos)
        if eq < 0:
            break
        key = text[pos:eq].strip()
        pos = eq + 1
        while pos < n and text[pos].isspace():
            pos += 1
        value, pos = _dsn_value(text, pos)
        if key:
            out[key] = value
    return out


def _dsn_value(text: str, pos: int) -> tuple[str, int]:
    n = len(text)
    if pos < n and text[pos] == "'":
        chars: list[str] = []
        pos += 1
        while pos < n:
            ch = text[pos]
            if ch == "\\" and pos + 1 < n:
                chars.append(text[pos + 1])
                pos += 2
            elif ch == "'" and pos + 1 < n and text[pos + 1] == "'":
                chars.append("'")
                pos += 2
            elif ch == "'":
                return "".join(chars), pos + 1
            else:
                chars.append(ch)
                pos += 1
        return "".join(chars), pos
    end = pos
    while end < n and not text[end].isspace():
        end += 1
    return text[pos:end], end


def is_secret_name(name: str) -> bool:
    """Whether a setting's name says it holds a secret (`password`, `db_password`, `api.token`)."""
    low = name.lower()
    return any(low == s or low.endswith(("_" + s, "-" + s, "." + s)) for s in _SECRET_NAMES)


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _secrets:
            alternatives = []
            for secret in sorted(_secrets, key=len, reverse=True):
                head = r"(?<![\w])" if re.match(r"\w", secret[0]) else ""
                tail = r"(?![\w])" if re.match(r"\w", secret[-1]) else ""
                alternatives.append(head + re.escape(secret) + tail)
            _pattern = re.compile("|".join(alternatives))
        return _pattern


def mask(text: str) -> str:
    """``text`` with every secret masked (see the module docstring)."""
    if not text:
        return text
    pattern = _compiled()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if "://" in text:
        text = _URL_USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    if "=" in text:
        text = _QUERY_PARAM.sub(_mask_param, text)
        text = _KEY_VALUE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return text


def _mask_param(match: re.Match[str]) -> str:
    sep, name, value = match.groups()
    if not value or not is_secret_name(unquote(name)):
        return match.group(0)
    return f"{sep}{name}={MASK}"


def mask_value(value: Any) -> Any:
    """``value`` with `mask` applied to every string inside it (dicts, lists, tuples)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(v) for v in value)
    return value


class MaskingStream:
    """A text stream that masks everything written through it (the CLI wraps stdout/stderr)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(mask(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def logging_filter() -> Any:
    """A `logging.Filter` that masks secrets in each record (attach it to a handler)."""
    import logging

    class MaskFilter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.args:
                record.msg, record.args = record.getMessage(), None
            record.msg = mask(str(record.msg))
            if record.exc_info and not record.exc_text:
                record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            return True

    return MaskFilter()
