"""`connector: http`: the records of a JSON API, page by page, as batches with one Arrow schema for
the run (the keys and their behaviour are documented in `headwater.extract.http`)."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from headwater.extract.base import Batch, Connector, ExtractState, Rejected, register
from headwater.extract.cursors import apply_lag
from headwater.extract.http.auth import AUTH_KEYS
from headwater.extract.http.config import (
    INCREMENTAL_KEYS,
    PAGINATION_KEYS,
    RETRY_KEYS,
    HttpSettings,
    read_settings,
)
from headwater.extract.http.infer import TableBuilder
from headwater.extract.http.paginators import pages
from headwater.extract.http.records import MISSING, get_path, max_cursor
from headwater.extract.http.transport import Response, Transport
from headwater.extract.keys import Section


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
        "pagination": Section(frozenset({"in"}), by="type", variants=PAGINATION_KEYS),
        "auth": Section(by="type", variants=AUTH_KEYS),
        "retry": Section(frozenset(RETRY_KEYS)),
        "incremental": Section(frozenset(INCREMENTAL_KEYS)),
    }

    def __init__(
        self,
        source: str,
        table: str,
        config: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(source, table, config, env)
        self.settings: HttpSettings = read_settings(self.name, self.config, self.env)
        self.transport = Transport(self.name, self.settings, self.env)

    def close(self) -> None:
        """Close the kept-alive connections."""
        self.transport.close()

    def _lagged(self, value: Any) -> Any:
        """The committed cursor minus `lag`, in the cursor's own JSON form (ISO text stays text)."""
        lag = self.settings.lag
        if lag is None or value is None:
            return value
        if not isinstance(value, str):
            return apply_lag(value, lag, self.name)
        text = value.strip()
        if not isinstance(lag, timedelta):
            try:
                return str(apply_lag(int(text), lag, self.name))
            except ValueError:
                pass
        try:
            if len(text) <= 10:
                day = date.fromisoformat(text)
                return apply_lag(day, lag, self.name).isoformat()
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return apply_lag(value, lag, self.name)  # the error names the value
        shifted = apply_lag(moment, lag, self.name)
        out = shifted.isoformat(sep="T" if "T" in text.upper() else " ")
        if text[-1:] in ("Z", "z") and out.endswith("+00:00"):
            out = out[: -len("+00:00")] + "Z"
        return out

    def _pages(self, state: ExtractState) -> Generator[tuple[Response, list[Any]], None, None]:
        """The answers of a run, with their records, from the committed ``state`` on."""
        inc = self.settings.incremental
        since = None
        if inc.get("param"):
            since = self._lagged(state.cursor) if state.cursor is not None else inc.get("initial")
        return pages(self.name, self.settings, self.transport.fetch, since)

    # -- the seam -----------------------------------------------------------------------------

    @property
    def atomic(self) -> bool:
        """Without an incremental cursor a retry starts again from the first page, so the pages
        of a run are loaded all together or not at all."""
        return not self.settings.incremental.get("cursor_field")

    def hints(self) -> dict[str, Any]:
        """Without an incremental cursor every run reads the whole collection: it replaces the
        table (swapped in once every page has arrived) unless the table sets `write_disposition`."""
        if self.settings.incremental.get("cursor_field"):
            return {}
        return {"write_disposition": "replace"}

    def check(self) -> None:
        self.transport.start()
        try:
            first = self._pages(ExtractState())
            try:
                next(first, None)
            finally:
                first.close()
        finally:
            self.close()

    def extract(self, state: ExtractState) -> Iterator[Batch]:
        self.transport.start()
        creds = self.settings.credentials
        builder = TableBuilder(self.settings.flatten)
        cursor_field = self.settings.incremental.get("cursor_field")
        running: Any = None
        pending: Batch | None = None
        rows: list[dict[str, Any]] = []
        rejected: list[Rejected] = []

        def make(chunk: list[dict[str, Any]], bad: list[Rejected]) -> Batch:
            nonlocal running
            if cursor_field:
                for record in chunk:
                    value = get_path(record, str(cursor_field))
                    if value is not MISSING and value is not None:
                        running = max_cursor(running, value)
            return Batch(table=builder.build(chunk), cursor=running, rejected=bad, final=False)

        try:
            for page_no, (resp, records) in enumerate(self._pages(state), start=1):
                shown = creds.show(resp.url)
                for index, record in enumerate(records):
                    if isinstance(record, dict):
                        rows.append(record)
                    else:
                        kind = "null" if record is None else type(record).__name__
                        rejected.append(
                            Rejected(
                                raw=creds.redact(json.dumps(record, ensure_ascii=False)),
                                reason=f"record {index} of page {page_no} is a JSON {kind}, not an object",
                                source_file=shown,
                                line=index,
                            )
                        )
                size = self.settings.batch_size
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
