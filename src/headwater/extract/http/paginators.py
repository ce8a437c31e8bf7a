"""The pages of an `http` source: one request after the other, as its ``pagination`` says.

A `Paginator` gives the page parameters of the first request and, after each page, what the
next request is: new page parameters (`page_number`, `offset`, `cursor`), a URL (`next_url`,
`link_header`), or None at the end. `pages` sends the requests (page parameters in the query, or
in a POST's JSON body with ``in: body``; the incremental parameter with each of them) and yields
every answer with its records.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from headwater.extract.http.records import MISSING, get_path, parse_json, records_of
from headwater.extract.http.transport import Response, with_query

if TYPE_CHECKING:
    from headwater.extract.http.auth import Credentials
    from headwater.extract.http.config import HttpSettings

log = logging.getLogger("headwater.extract.http")

Next = dict[str, Any] | str | None
"""What comes after a page: the next request's page parameters, its URL, or nothing."""


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


def _a_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Paginator:
    """``pagination: none``: one request."""

    def __init__(self, spec: Mapping[str, Any], creds: Credentials) -> None:
        self.spec = spec
        self.creds = creds

    def first(self) -> dict[str, Any]:
        """The page parameters of the first request."""
        return {}

    def next(self, doc: Any, resp: Response, records: list[Any]) -> Next:
        """What comes after the page ``resp`` (parsed: ``doc``) that held ``records``."""
        return None


class PageNumber(Paginator):
    """``page_number``: ``page_param`` counts from ``start``; stops on an empty page or after
    ``total_path`` pages."""

    def __init__(self, spec: Mapping[str, Any], creds: Credentials) -> None:
        super().__init__(spec, creds)
        self.page = spec.get("start", 1)
        self.params: dict[str, Any] = {spec.get("page_param", "page"): self.page}
        if spec.get("size_param") and spec.get("page_size"):
            self.params[spec["size_param"]] = spec["page_size"]

    def first(self) -> dict[str, Any]:
        return self.params

    def next(self, doc: Any, resp: Response, records: list[Any]) -> Next:
        p = self.spec
        if not records:
            return None
        total = get_path(doc, p["total_path"]) if p.get("total_path") else MISSING
        self.page += 1
        self.params[p.get("page_param", "page")] = self.page
        if _a_number(total) and self.page - p.get("start", 1) >= total:
            return None
        return self.params


class Offset(Paginator):
    """``offset``: ``offset_param`` advances by the records received (a server capping ``limit``
    loses nothing); stops on an empty page or at ``total_path`` records."""

    def __init__(self, spec: Mapping[str, Any], creds: Credentials) -> None:
        super().__init__(spec, creds)
        self.offset = spec.get("start", 0)
        self.params: dict[str, Any] = {
            spec.get("offset_param", "offset"): self.offset,
            spec.get("limit_param", "limit"): spec.get("limit", 100),
        }

    def first(self) -> dict[str, Any]:
        return self.params

    def next(self, doc: Any, resp: Response, records: list[Any]) -> Next:
        p = self.spec
        if not records:
            return None
        total = get_path(doc, p["total_path"]) if p.get("total_path") else MISSING
        self.offset += len(records)
        self.params[p.get("offset_param", "offset")] = self.offset
        if _a_number(total) and self.offset >= total:
            return None
        return self.params


class Cursor(Paginator):
    """``cursor``: the answer's ``cursor_path`` is sent as ``cursor_param``; stops when the
    answer has no cursor, fails when a cursor comes back."""

    def __init__(self, spec: Mapping[str, Any], creds: Credentials) -> None:
        super().__init__(spec, creds)
        self.seen: set[str] = set()

    def next(self, doc: Any, resp: Response, records: list[Any]) -> Next:
        cursor = get_path(doc, self.spec.get("cursor_path", "next_cursor"))
        if cursor is MISSING or cursor is None or cursor == "":
            return None
        token = json.dumps(cursor, sort_keys=True)
        if token in self.seen:
            raise self.creds.error(
                f"the API returned the cursor {self.creds.redact(str(cursor))!r} twice; stopping to avoid a loop",
                hint="check `pagination.cursor_path`",
            )
        self.seen.add(token)
        return {self.spec.get("cursor_param", "cursor"): cursor}


class NextUrl(Paginator):
    """``next_url``: the answer's ``next_url_path`` is the next page's URL."""

    def __init__(self, spec: Mapping[str, Any], creds: Credentials) -> None:
        super().__init__(spec, creds)
        self.seen: set[str] = set()

    def target(self, doc: Any, resp: Response) -> str | None:
        found = get_path(doc, self.spec.get("next_url_path", "next"))
        return found if isinstance(found, str) and found else None

    def next(self, doc: Any, resp: Response, records: list[Any]) -> Next:
        target = self.target(doc, resp)
        if not target:
            return None
        next_url = urljoin(resp.url, target)
        if next_url in self.seen:
            raise self.creds.error(
                f"the next page link points back to {self.creds.show(next_url)}; stopping to avoid a loop"
            )
        self.seen.add(next_url)
        return next_url


class LinkHeader(NextUrl):
    """``link_header``: the next page is the RFC 8288 ``Link: <...>; rel="next"`` of the answer."""

    def target(self, doc: Any, resp: Response) -> str | None:
        return _next_link(resp.headers.get("Link"))


PAGINATORS: dict[str, type[Paginator]] = {
    "none": Paginator,
    "page_number": PageNumber,
    "offset": Offset,
    "cursor": Cursor,
    "next_url": NextUrl,
    "link_header": LinkHeader,
}


def pages(
    name: str,
    settings: HttpSettings,
    fetch: Callable[[str, str, Any], Response],
    since: Any,
) -> Generator[tuple[Response, list[Any]], None, None]:
    """The answers of one run with their records. ``since`` is the value of the incremental
    parameter (the committed cursor minus `lag`, or `initial`), None to send none."""
    s, creds = settings, settings.credentials
    spec = s.pagination
    paginator = PAGINATORS[spec["type"]](spec, creds)
    where = spec.get("in", "query")
    inc_params: dict[str, Any] = {}
    inc_body: dict[str, Any] = {}
    if s.incremental.get("param") and since is not None:
        target = inc_body if s.incremental.get("in") == "body" else inc_params
        target[str(s.incremental["param"])] = since

    def request(extra: Mapping[str, Any]) -> tuple[str, Any]:
        """The URL and body of a request with the page parameters ``extra``."""
        query = dict(s.params)
        body = json.loads(json.dumps(s.body)) if s.body is not None else None
        if where == "body":
            body = dict(body or {})
            body.update(extra)
        else:
            query.update(extra)
        query.update(inc_params)
        if inc_body:
            body = dict(body or {})
            body.update(inc_body)
        return with_query(s.url, query), body

    url, body = request(paginator.first())
    method = s.method
    count = 0
    while True:
        if s.max_pages is not None and count >= s.max_pages:
            return
        resp = fetch(method, url, body)
        doc = parse_json(resp, creds)
        records = records_of(doc, resp, s.records_path, spec["type"] != "none", creds)
        count += 1
        log.debug("%s: %s %s -> %d records", name, method, creds.show(url), len(records))
        yield resp, records
        following = paginator.next(doc, resp, records)
        if following is None:
            return
        if isinstance(following, str):
            url = following
        else:
            url, body = request(following)
