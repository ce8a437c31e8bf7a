"""Where the records are in an answer of a JSON API: the body parsed as JSON, the records found at
``records_path`` (a dotted path: ``data.items``, ``$.data[0].rows``) or, without one, the answer
itself when it is a list, else its first list-valued key; and the largest value of the
incremental ``cursor_field`` seen so far.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from headwater.extract.http.auth import Credentials
    from headwater.extract.http.transport import Response


class _Missing:
    """The value of a path that is not in a document."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def path_tokens(path: str) -> list[str | int]:
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


def get_path(doc: Any, path: str) -> Any:
    """The value at ``path`` in ``doc``, or `MISSING`."""
    value = doc
    for token in path_tokens(path):
        if isinstance(value, dict):
            key = str(token)
            if key not in value:
                return MISSING
            value = value[key]
        elif isinstance(value, list) and isinstance(token, int):
            if token >= len(value):
                return MISSING
            value = value[token]
        else:
            return MISSING
    return value


def parse_json(resp: Response, creds: Credentials) -> Any:
    """The body of ``resp`` as JSON (None when it is empty)."""
    if not resp.body.strip():
        return None
    try:
        return json.loads(resp.body)
    except (ValueError, UnicodeDecodeError) as e:
        start = resp.body[:120].decode("utf-8", "replace")
        raise creds.error(
            f"the response of {creds.show(resp.url)} (HTTP {resp.status}) is not valid JSON "
            f"({e}); it starts with {start!r}",
            hint="check that `url` is a JSON endpoint (content type "
            f"{resp.headers.get('Content-Type') or 'not given'})",
        ) from None


def records_of(
    doc: Any, resp: Response, records_path: str | None, paginated: bool, creds: Credentials
) -> list[Any]:
    """The records of the parsed answer ``doc``; without ``records_path``, a lone object of an
    API that is not ``paginated`` is one record."""
    if doc is None:
        return []
    if records_path:
        value = get_path(doc, str(records_path))
        if value is MISSING:
            keys = (
                ", ".join(f"`{k}`" for k in list(doc)[:20])
                if isinstance(doc, dict)
                else type(doc).__name__
            )
            raise creds.error(
                f"`records_path` `{records_path}` is not in the response of {creds.show(resp.url)}",
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
        if not paginated:
            return [doc]
        raise creds.error(
            f"the response of {creds.show(resp.url)} has no list of records",
            hint="set `records_path` to the key holding the records (e.g. `data.items`)",
        )
    raise creds.error(
        f"the response of {creds.show(resp.url)} is a JSON {type(doc).__name__}, not records",
        hint="set `records_path`",
    )


def _cursor_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))


def max_cursor(a: Any, b: Any) -> Any:
    """The larger of two cursor values: numbers before text, text compared as text."""
    if a is None:
        return b
    if b is None:
        return a
    return b if _cursor_key(b) > _cursor_key(a) else a
