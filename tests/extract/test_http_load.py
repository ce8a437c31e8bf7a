"""The `http` connector through headwater's loader into DuckDB: incremental loads and a crash
mid-pagination produce every source record exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.engines.duckdb import DuckDBEngine
from headwater.extract.base import ConnectorError
from headwater.extract.http import HttpConnector
from headwater.extract.load import Loader
from headwater.project.definition import Relation
from tests.extract.test_http_connector import Reply, Req, Server

REL = Relation("raw", "events")


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


# -- issue 11, item 8: a source without a cursor is all-or-nothing -----------------------------------------
def _pages(records: list[dict[str, Any]], failing: list[bool]) -> Any:
    """Two records per page; page 3 answers 500 while ``failing[0]``."""

    def app(req: Req) -> Any:
        page = int(req.q("page") or 1)
        if page == 3 and failing[0]:
            return Reply(500, {"error": "internal"})
        return {"data": records[(page - 1) * 2 : page * 2]}

    return app


SOURCES = """\
version: 2
sources:
  - name: api
    schema: raw
    connector: http
    tables:
      - name: events
        extract:
          url: "{url}"
          records_path: data
          pagination: {{type: page_number}}
          retry: {{max_attempts: 1}}
{extra}"""


@pytest.mark.parametrize(
    "extra", ["", "          write_disposition: append\n"], ids=["default", "append"]
)
def test_a_failed_page_commits_no_page_and_a_retry_loads_each_record_once(
    make_project: Any, cli: Any, extra: str
) -> None:
    from tests.conftest import query

    records = [{"id": i} for i in range(1, 11)]
    failing = [True]
    server = Server(_pages(records, failing))
    try:
        root = make_project({"sources.yml": SOURCES.format(url=server.url(), extra=extra)})
        res = cli("extract", "--project-dir", root)
        assert res.code == 1 and "HTTP 500" in res.out + res.err
        # pages 1 and 2 arrived, but none of the run's pages is committed without the others
        assert query(
            root,
            "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = 'events'",
        ) == [(0,)]
        failing[0] = False
        res = cli("extract", "--project-dir", root)
        assert res.code == 0, res.out + res.err
        assert query(root, "select count(*), count(distinct id) from raw.events") == [(10, 10)]
        # without a cursor every run reads the whole collection: by default it replaces the table
        res = cli("extract", "--project-dir", root)
        assert res.code == 0, res.out + res.err
        expected = (10, 10) if not extra else (20, 10)
        assert query(root, "select count(*), count(distinct id) from raw.events") == [expected]
        # a failed run after a good one: the table stays as it was
        failing[0] = True
        assert cli("extract", "--project-dir", root).code == 1
        assert query(root, "select count(*), count(distinct id) from raw.events") == [expected]
    finally:
        server.close()


def test_without_a_cursor_the_default_is_replace_and_explicit_settings_win(
    engine: DuckDBEngine,
) -> None:
    plain = HttpConnector("api", "events", {"url": "http://127.0.0.1:1/x"}, env={})
    assert plain.atomic and plain.hints() == {"write_disposition": "replace"}
    assert Loader(engine, REL, plain).disposition == "replace"
    incremental = HttpConnector(
        "api",
        "events",
        {"url": "http://127.0.0.1:1/x", "incremental": {"cursor_field": "seq"}},
        env={},
    )
    assert not incremental.atomic and incremental.hints() == {}
    assert Loader(engine, REL, incremental).disposition == "append"
    merge = HttpConnector(
        "api",
        "events",
        {"url": "http://127.0.0.1:1/x", "write_disposition": "merge", "primary_key": "id"},
        env={},
    )
    assert Loader(engine, REL, merge).disposition == "merge"
