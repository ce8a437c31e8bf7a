"""The `http` connector through headwater's loader into DuckDB: incremental loads and a crash
mid-pagination produce every source record exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.engines.duckdb import DuckDBEngine
from headwater.extract.base import ConnectorError
from headwater.extract.http import HttpConnector
from headwater.extract.load import Loader
from headwater.project.definition import Relation, Target
from tests.extract.test_http_connector import Reply, Req, Server

REL = Relation("raw", "events")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine(Target(name="dev", path=str(tmp_path / "w.duckdb")), str(tmp_path))
    eng.open()
    yield eng
    eng.close()


def _api(data: list[Any], fail_on_page: list[int | None]) -> Any:
    """Records sorted by `seq`, `seq > since`, two per page; `fail_on_page[0]` answers 400."""

    def app(req: Req) -> Any:
        page = int(req.q("page"))
        if page == fail_on_page[0]:
            return Reply(400, {"error": "boom"})
        since = int(req.q("since", "0"))
        found = [r for r in data if not isinstance(r, dict) or r["seq"] > since]
        return {"data": found[(page - 1) * 2 : page * 2]}

    return app


def _load(engine: DuckDBEngine, url: str, **extra: Any) -> Any:
    config = {
        "url": url,
        "pagination": {"type": "page_number"},
        "incremental": {"cursor_field": "seq", "param": "since"},
        **extra,
    }
    return Loader(engine, REL, HttpConnector("api", "events", config, env={})).run()


def test_incremental_loads_and_crash_resume(engine: DuckDBEngine) -> None:
    data: list[Any] = [{"seq": i, "user": {"id": i % 3}} for i in range(1, 8)]
    fail: list[int | None] = [3]
    server = Server(_api(data, fail))
    try:
        _scenario(server, data, fail, engine)
    finally:
        server.close()


def _scenario(
    server: Server, data: list[Any], fail: list[int | None], engine: DuckDBEngine
) -> None:

    with pytest.raises(ConnectorError, match="HTTP 400"):
        _load(engine, server.url())
    # page 1's batch was committed with its cursor; page 2's was still pending
    assert engine.execute("SELECT count(*), max(seq) FROM raw.events") == [(2, 2)]

    fail[0] = None
    server.requests.clear()
    result = _load(engine, server.url())
    assert server.requests[0].q("since") == "2"
    assert result.rows == 5 and result.cursor == 7
    assert engine.execute("SELECT count(*), count(DISTINCT seq) FROM raw.events") == [(7, 7)]
    assert engine.execute("SELECT user__id FROM raw.events WHERE seq = 4") == [(1,)]

    data += [{"seq": 8, "user": {"id": 2}, "extra": "new column"}, "not an object"]
    server.requests.clear()
    result = _load(engine, server.url())
    assert {r.q("since") for r in server.requests} == {"7"}
    assert result.rows == 1 and result.rejected == 1 and result.cursor == 8
    assert engine.execute("SELECT seq, extra FROM raw.events WHERE seq >= 7 ORDER BY seq") == [
        (7, None),
        (8, "new column"),
    ]
    assert engine.execute("SELECT raw FROM raw.events__rejected") == [('"not an object"',)]
