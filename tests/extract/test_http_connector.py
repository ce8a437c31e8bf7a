"""The `http` connector against real local HTTP servers (no mocked client)."""

from __future__ import annotations

import base64
import email.utils
import gzip
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headwater.errors import ConfigError, TransientError
from headwater.extract.base import (
    Batch,
    ConnectorError,
    ExtractState,
    TransientConnectorError,
    connector_class,
)
from headwater.extract.http import HttpConnector, _next_link
from headwater.extract.http.transport import _retry_after

# ---------------------------------------------------------------------------------------------
# a tiny scriptable server


@dataclass
class Req:
    method: str
    path: str
    url: str  # the request target as received (absolute when sent to a proxy)
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float
    client: tuple[str, int]

    def q(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, [default])[0]


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


App = Callable[[Req], Any]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        req = Req(
            method=self.command,
            path=parts.path,
            url=self.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=json.loads(raw) if raw else None,
            at=time.monotonic(),
            client=self.client_address,
        )
        self.server.requests.append(req)  # type: ignore[attr-defined]
        reply = self.server.app(req)  # type: ignore[attr-defined]
        if not isinstance(reply, Reply):
            reply = Reply(body=reply)
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _HTTPServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class Server:
    def __init__(self, app: App) -> None:
        self.httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.app = app  # type: ignore[attr-defined]
        self.httpd.requests = []  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def requests(self) -> list[Req]:
        return self.httpd.requests  # type: ignore[attr-defined]

    def url(self, path: str = "/items") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[[App], Server]]:
    servers: list[Server] = []

    def start(app: App) -> Server:
        server = Server(app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def run(
    config: dict[str, Any], state: ExtractState | None = None, env: dict[str, str] | None = None
) -> list[Batch]:
    conn = HttpConnector("api", "items", config, env=env or {})
    return list(conn.extract(state or ExtractState()))


def rows(batches: list[Batch]) -> list[dict[str, Any]]:
    return [r for b in batches for r in b.table.to_pylist()]


def ids(batches: list[Batch]) -> list[Any]:
    return [r["id"] for r in rows(batches)]


FAST_RETRY = {"max_attempts": 3, "backoff": 0.01, "max_backoff": 0.02}

# ---------------------------------------------------------------------------------------------
# pagination


def test_registered_under_http() -> None:
    assert connector_class("http") is HttpConnector


def test_page_number_until_empty_page(serve) -> None:
    data = [{"id": i} for i in range(25)]

    def app(req: Req) -> Any:
        page, size = int(req.q("page")), int(req.q("per_page"))
        return {"items": data[(page - 1) * size : page * size]}

    server = serve(app)
    batches = run(
        {
            "url": server.url(),
            "pagination": {"type": "page_number", "size_param": "per_page", "page_size": 10},
        }
    )
    assert ids(batches) == list(range(25))
    assert [r.q("page") for r in server.requests] == ["1", "2", "3", "4"]
    assert [b.table.num_rows for b in batches] == [10, 10, 5]
    assert [b.final for b in batches] == [False, False, True]


def test_page_number_total_pages_and_start_zero(serve) -> None:
    data = [{"id": i} for i in range(7)]

    def app(req: Req) -> Any:
        page = int(req.q("p"))
        return {"data": {"rows": data[page * 3 : page * 3 + 3]}, "meta": {"pages": 3}}

    server = serve(app)
    batches = run(
        {
            "url": server.url(),
            "records_path": "data.rows",
            "pagination": {
                "type": "page_number",
                "page_param": "p",
                "start": 0,
                "total_path": "meta.pages",
            },
        }
    )
    assert ids(batches) == list(range(7))
    assert [r.q("p") for r in server.requests] == ["0", "1", "2"]  # no request for an empty page


def test_offset_advances_by_records_received(serve) -> None:
    """The server caps `limit` at 4: advancing by `limit` (10) would skip records."""
    data = [{"id": i} for i in range(11)]

    def app(req: Req) -> Any:
        offset, limit = int(req.q("skip")), min(int(req.q("take")), 4)
        return data[offset : offset + limit]

    server = serve(app)
    batches = run(
        {
            "url": server.url(),
            "pagination": {
                "type": "offset",
                "offset_param": "skip",
                "limit_param": "take",
                "limit": 10,
            },
        }
    )
    assert ids(batches) == list(range(11))
    assert [r.q("skip") for r in server.requests] == ["0", "4", "8", "11"]
    assert {r.q("take") for r in server.requests} == {"10"}


def test_offset_total_path(serve) -> None:
    data = [{"id": i} for i in range(9)]

    def app(req: Req) -> Any:
        offset, limit = int(req.q("offset")), int(req.q("limit"))
        return {"results": data[offset : offset + limit], "count": len(data)}

    server = serve(app)
    batches = run(
        {"url": server.url(), "pagination": {"type": "offset", "limit": 3, "total_path": "count"}}
    )
    assert ids(batches) == list(range(9))
    assert len(server.requests) == 3


def test_cursor_pagination(serve) -> None:
    data = [{"id": i} for i in range(10)]

    def app(req: Req) -> Any:
        start = int(req.q("after", "0"))
        page = data[start : start + 4]
        nxt = str(start + 4) if start + 4 < len(data) else None
        return {"records": page, "meta": {"next": nxt}}

    server = serve(app)
    batches = run(
        {
            "url": server.url(),
            "pagination": {"type": "cursor", "cursor_path": "meta.next", "cursor_param": "after"},
        }
    )
    assert ids(batches) == list(range(10))
    assert [r.q("after") for r in server.requests] == [None, "4", "8"]


def test_cursor_repeated_is_an_error_not_a_loop(serve) -> None:
    server = serve(lambda req: {"records": [{"id": 1}], "next_cursor": "same"})
    with pytest.raises(ConnectorError, match="twice"):
        run({"url": server.url(), "pagination": {"type": "cursor"}})
    assert len(server.requests) == 2


def test_link_header_pagination(serve) -> None:
    data = [{"id": i} for i in range(7)]

    def app(req: Req) -> Any:
        page = int(req.q("page", "1"))
        links = [f'<{server.url()}?page=3>; rel="last"']
        if page * 3 < len(data):
            # relative on even pages, absolute on odd ones; rel with several values
            target = (
                f"/items?page={page + 1}"
                if page % 2 == 0
                else server.url(f"/items?page={page + 1}")
            )
            links.insert(0, f'<{target}>; rel="next nofollow"')
        return Reply(body=data[(page - 1) * 3 : page * 3], headers={"Link": ", ".join(links)})

    server = serve(app)
    batches = run(
        {"url": server.url(), "params": {"sort": "id"}, "pagination": {"type": "link_header"}}
    )
    assert ids(batches) == list(range(7))
    assert [r.q("page") for r in server.requests] == [None, "2", "3"]
    assert server.requests[0].q("sort") == "id"


def test_next_url_in_body(serve) -> None:
    data = [{"id": i} for i in range(5)]

    def app(req: Req) -> Any:
        page = int(req.q("page", "0"))
        nxt = server.url(f"/items?page={page + 1}") if (page + 1) * 2 < len(data) else None
        return {"results": data[page * 2 : page * 2 + 2], "next": nxt}

    server = serve(app)
    assert ids(run({"url": server.url(), "pagination": {"type": "next_url"}})) == list(range(5))


def test_max_pages_and_batch_size(serve) -> None:
    server = serve(lambda req: [{"id": int(req.q("page")) * 10 + i} for i in range(5)])
    batches = run(
        {
            "url": server.url(),
            "pagination": {"type": "page_number"},
            "max_pages": 3,
            "batch_size": 4,
        }
    )
    assert len(server.requests) == 3
    assert [b.table.num_rows for b in batches] == [4, 4, 4, 3]
    assert ids(batches) == [10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 30, 31, 32, 33, 34]
    assert [b.final for b in batches] == [False, False, False, True]


def test_post_with_body_and_pagination_in_body(serve) -> None:
    data = [{"id": i} for i in range(5)]

    def app(req: Req) -> Any:
        assert req.method == "POST"
        assert req.headers["content-type"] == "application/json"
        assert req.body["filter"] == {"kind": "a"}
        offset = req.body.get("offset", 0)
        return {"hits": data[offset : offset + req.body["limit"]]}

    server = serve(app)
    batches = run(
        {
            "url": server.url(),
            "method": "POST",
            "body": {"filter": {"kind": "a"}},
            "pagination": {"type": "offset", "limit": 2, "in": "body"},
        }
    )
    assert ids(batches) == list(range(5))
    assert [r.body["offset"] for r in server.requests] == [0, 2, 4, 5]


def test_url_template_from_params(serve) -> None:
    server = serve(lambda req: [{"id": 1}])
    run(
        {
            "url": server.url("/orgs/{org}/repos"),
            "params": {"org": "a b/c", "type": "all", "flag": True},
        }
    )
    (req,) = server.requests
    assert req.path == "/orgs/a%20b%2Fc/repos"
    assert req.query == {"type": ["all"], "flag": ["true"]}


def test_keep_alive_reuses_one_connection(serve) -> None:
    server = serve(lambda req: [{"id": 1}] if int(req.q("page")) < 6 else [])
    run({"url": server.url(), "pagination": {"type": "page_number"}})
    assert len(server.requests) == 6
    assert len({r.client for r in server.requests}) == 1


def test_gzip_response(serve) -> None:
    payload = gzip.compress(json.dumps([{"id": i} for i in range(100)]).encode())
    server = serve(lambda req: Reply(body=payload, headers={"Content-Encoding": "gzip"}))
    assert ids(run({"url": server.url()})) == list(range(100))
    assert "gzip" in server.requests[0].headers["accept-encoding"]


# ---------------------------------------------------------------------------------------------
# records, schema, flattening, rejects


def test_default_records_first_list_key_and_single_object(serve) -> None:
    server = serve(lambda req: {"count": 2, "data": [{"id": 1}, {"id": 2}], "other": [9]})
    assert ids(run({"url": server.url()})) == [1, 2]
    server = serve(lambda req: {"id": 7, "name": "only"})
    assert rows(run({"url": server.url()})) == [{"id": 7, "name": "only"}]


def test_records_path_missing_names_the_keys(serve) -> None:
    server = serve(lambda req: {"data": {"things": []}, "meta": {}})
    with pytest.raises(ConnectorError) as err:
        run({"url": server.url(), "records_path": "data.items"})
    message = str(err.value)
    assert "data.items" in message and "`data`" in message and "`meta`" in message


def test_records_path_with_index_and_dollar(serve) -> None:
    server = serve(lambda req: {"results": [{"rows": [{"id": 1}, {"id": 2}]}]})
    assert ids(run({"url": server.url(), "records_path": "$.results[0].rows"})) == [1, 2]


def test_flatten_nested_objects(serve) -> None:
    record = {"id": 1, "user": {"name": "a", "address": {"city": "x"}}, "tags": ["t1", "t2"]}
    server = serve(lambda req: [record])
    (batch,) = run({"url": server.url()})
    assert batch.table.column_names == ["id", "user__name", "user__address__city", "tags"]
    assert batch.table.schema.field("tags").type == pa.list_(pa.string())
    assert batch.table.to_pylist() == [
        {"id": 1, "user__name": "a", "user__address__city": "x", "tags": ["t1", "t2"]}
    ]


def test_no_flatten_keeps_structs_and_lists(serve) -> None:
    records = [
        {
            "id": 1,
            "user": {"name": "a", "address": {"city": "x"}},
            "items": [{"sku": "s", "qty": 1}],
        },
        {"id": 2, "user": {"name": "b", "age": 30}, "items": []},
    ]
    server = serve(lambda req: records)
    (batch,) = run({"url": server.url(), "flatten": False})
    schema = batch.table.schema
    assert schema.field("user").type == pa.struct(
        [
            ("name", pa.string()),
            ("address", pa.struct([("city", pa.string())])),
            ("age", pa.int64()),
        ]
    )
    assert schema.field("items").type == pa.list_(
        pa.struct([("sku", pa.string()), ("qty", pa.int64())])
    )
    got = batch.table.to_pylist()
    assert got[0]["user"] == {"name": "a", "address": {"city": "x"}, "age": None}
    assert got[1]["user"] == {"name": "b", "address": None, "age": 30}
    assert got[1]["items"] == []


def test_schema_is_consistent_across_pages(serve) -> None:
    pages = {
        1: [{"id": 1, "a": 1, "n": None, "e": []}],
        2: [{"id": 2, "a": 2.5, "b": "x", "n": None}],
        3: [{"id": 3, "c": {"d": True}, "n": 5}],
        4: [{"id": 4, "b": 7, "c": {"d": False}, "e": ["x"]}],
        5: [],
    }
    server = serve(lambda req: pages[int(req.q("page"))])
    batches = run({"url": server.url(), "pagination": {"type": "page_number"}})
    schemas = [b.table.schema for b in batches]
    # a column only ever null (or []) so far is left out: DuckDB would type it "NULL"
    assert schemas[0].names == ["id", "a"]
    assert schemas[1].names == ["id", "a", "b"]
    assert schemas[1].field("a").type == pa.float64()
    assert schemas[2].names == ["id", "a", "n", "b", "c__d"]
    assert schemas[2].field("n").type == pa.int64()
    # `b` was a string and now gets an int: kept as its JSON text, the column stays a string
    assert schemas[3].field("b").type == pa.string()
    assert schemas[3].field("e").type == pa.list_(pa.string())
    assert batches[3].table.to_pylist() == [
        {"id": 4, "a": None, "n": None, "e": ["x"], "b": "7", "c__d": False}
    ]
    assert batches[2].table.to_pylist() == [{"id": 3, "a": None, "n": 5, "b": None, "c__d": True}]


def test_batches_load_into_duckdb(serve) -> None:
    """Every type the builder makes is one DuckDB can hold (no "NULL" columns)."""
    import duckdb

    records = [
        {"id": 1, "u": {"x": None, "y": 1}, "l": [], "z": None, "s": [{"a": None}], "m": {}},
        {"id": 2, "u": {"x": None, "y": 2}, "l": [[]], "z": None, "f": 1.5},
    ]
    server = serve(lambda req: records)
    for flatten in (True, False):
        (batch,) = run({"url": server.url(), "flatten": flatten})
        con = duckdb.connect()
        try:
            con.register("v", batch.table)
            con.execute("CREATE TABLE t AS SELECT * FROM v")
            types = dict(
                con.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't'"
                ).fetchall()
            )
        finally:
            con.close()
        assert not any("NULL" in t for t in types.values()), types
    assert batch.table.column_names == ["id", "u", "f"]
    assert batch.table.schema.field("u").type == pa.struct([("y", pa.int64())])


def test_mixed_types_within_a_page_become_json_text(serve) -> None:
    records = [
        {"v": 1},
        {"v": "two"},
        {"v": {"x": 3}},
        {"v": [4]},
        {"v": True},
        {"v": None},
        {"v": 2**70},
    ]
    server = serve(lambda req: records)
    (batch,) = run({"url": server.url(), "flatten": False})
    assert batch.table.schema.field("v").type == pa.string()
    assert batch.table.column("v").to_pylist() == [
        "1", "two", '{"x":3}', "[4]", "true", None, str(2**70),
    ]  # fmt: skip


def test_non_object_records_are_rejected(serve) -> None:
    server = serve(lambda req: {"data": [{"id": 1}, 5, "text", None, [1, 2], {"id": 2}]})
    (batch,) = run({"url": server.url()})
    assert ids([batch]) == [1, 2]
    assert [r.raw for r in batch.rejected] == ["5", '"text"', "null", "[1, 2]"]
    assert [r.line for r in batch.rejected] == [1, 2, 3, 4]
    assert "int, not an object" in batch.rejected[0].reason
    assert batch.rejected[0].source_file == server.url()


def test_page_of_only_rejects_still_yields_a_batch(serve) -> None:
    server = serve(lambda req: [1, 2])
    (batch,) = run({"url": server.url()})
    assert batch.table.num_rows == 0 and len(batch.rejected) == 2 and batch.final


def test_empty_source_yields_one_empty_final_batch(serve) -> None:
    server = serve(lambda req: {"items": []})
    (batch,) = run({"url": server.url(), "pagination": {"type": "page_number"}})
    assert batch.table.num_rows == 0 and batch.final and batch.rejected == []


def test_invalid_json_names_url_and_status(serve) -> None:
    server = serve(
        lambda req: Reply(body=b"<html>oops</html>", headers={"Content-Type": "text/html"})
    )
    with pytest.raises(ConnectorError) as err:
        run({"url": server.url(), "params": {"q": "x"}})
    message = str(err.value)
    assert (
        server.url() + "?q=x" in message and "HTTP 200" in message and "not valid JSON" in message
    )
    assert "text/html" in message


# ---------------------------------------------------------------------------------------------
# incremental


def test_incremental_sends_state_cursor_and_returns_max(serve) -> None:
    data = [
        {"id": 1, "updated_at": "2024-01-01T00:00:00Z"},
        {"id": 2, "updated_at": "2024-01-05T00:00:00Z"},
        {"id": 3, "updated_at": "2024-01-03T00:00:00Z"},
        {"id": 4, "updated_at": "2024-01-04T00:00:00Z"},
    ]

    def app(req: Req) -> Any:
        since = req.q("since")
        found = [r for r in data if since is None or r["updated_at"] >= since]
        page = int(req.q("page"))
        return found[(page - 1) * 2 : page * 2]

    server = serve(app)
    config = {
        "url": server.url(),
        "pagination": {"type": "page_number"},
        "incremental": {
            "cursor_field": "updated_at",
            "param": "since",
            "initial": "2024-01-02T00:00:00Z",
        },
    }
    batches = run(config)  # first load: `initial`
    assert {r.q("since") for r in server.requests} == {"2024-01-02T00:00:00Z"}
    assert ids(batches) == [2, 3, 4]
    # the cursor never goes back, even though page 2 is older than page 1
    assert [b.cursor for b in batches] == ["2024-01-05T00:00:00Z", "2024-01-05T00:00:00Z"]

    server.requests.clear()
    batches = run(config, ExtractState(cursor="2024-01-04T00:00:00Z"))
    assert {r.q("since") for r in server.requests} == {"2024-01-04T00:00:00Z"}
    assert ids(batches) == [2, 4]
    assert batches[-1].cursor == "2024-01-05T00:00:00Z"


def test_incremental_numeric_nested_cursor_and_no_initial(serve) -> None:
    server = serve(
        lambda req: [{"id": 1, "meta": {"seq": 9}}, {"id": 2, "meta": {"seq": 10}}, {"id": 3}]
    )
    (batch,) = run(
        {"url": server.url(), "incremental": {"cursor_field": "meta.seq", "param": "after"}}
    )
    assert server.requests[0].query == {}
    assert batch.cursor == 10  # numeric, not "9" > "10"


@pytest.mark.parametrize(
    ("cursor", "lag", "sent"),
    [
        ("2024-01-05T10:00:00Z", "PT1H", "2024-01-05T09:00:00Z"),
        ("2024-01-05 10:00:00+02:00", "90 minutes", "2024-01-05 08:30:00+02:00"),
        ("2024-01-05", "1 day", "2024-01-04"),
        (1000, 100, "900"),
        ("1000", 100, "900"),
    ],
)
def test_incremental_lag(serve, cursor: Any, lag: Any, sent: str) -> None:
    server = serve(lambda req: [])
    run(
        {"url": server.url(), "lag": lag, "incremental": {"cursor_field": "ts", "param": "since"}},
        ExtractState(cursor=cursor),
    )
    assert server.requests[0].q("since") == sent


def test_bad_lag_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="lag"):
        HttpConnector("api", "items", {"url": "http://x/y", "lag": "soon"}, env={})


# ---------------------------------------------------------------------------------------------
# auth: the server checks; secrets never appear in errors or logs

SECRET = "s3cr3t-T0ken/+=="


def _auth_app(check: Callable[[Req], bool]) -> App:
    def app(req: Req) -> Any:
        if not check(req):
            return Reply(401, {"error": "unauthorized"})
        return [{"id": 1}]

    return app


AUTH_CASES = {
    "bearer": (
        {"type": "bearer", "token_env": "API_TOKEN"},
        {"API_TOKEN": SECRET},
        lambda req: req.headers.get("authorization") == f"Bearer {SECRET}",
        "API_TOKEN",
    ),
    "basic": (
        {"type": "basic", "username": "alice", "password_env": "API_PASSWORD"},
        {"API_PASSWORD": SECRET},
        lambda req: (
            req.headers.get("authorization")
            == "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
        ),
        "API_PASSWORD",
    ),
    "basic_env_user": (
        {"type": "basic", "username_env": "API_USER", "password_env": "API_PASSWORD"},
        {"API_USER": "bob", "API_PASSWORD": SECRET},
        lambda req: (
            req.headers.get("authorization")
            == "Basic " + base64.b64encode(f"bob:{SECRET}".encode()).decode()
        ),
        "API_PASSWORD",
    ),
    "api_key_header": (
        {"type": "api_key", "name": "X-Api-Key", "value_env": "API_KEY"},
        {"API_KEY": SECRET},
        lambda req: req.headers.get("x-api-key") == SECRET,
        "API_KEY",
    ),
    "api_key_query": (
        {"type": "api_key", "name": "key", "in": "query", "value_env": "API_KEY"},
        {"API_KEY": SECRET},
        lambda req: req.q("key") == SECRET,
        "API_KEY",
    ),
}


def _assert_no_secret(text: str) -> None:
    from urllib.parse import quote, quote_plus

    for form in (
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        base64.b64encode(f"alice:{SECRET}".encode()).decode(),
    ):
        assert form not in text


@pytest.mark.parametrize("case", list(AUTH_CASES))
def test_auth(serve, caplog, case: str) -> None:
    caplog.set_level(logging.DEBUG, logger="headwater.extract.http")
    auth, env, check, var = AUTH_CASES[case]
    server = serve(_auth_app(check))
    config = {"url": server.url(), "params": {"q": "1"}, "auth": auth, "retry": FAST_RETRY}
    assert ids(run(config, env=env)) == [1]

    wrong = {k: ("wrong-" + v if v == SECRET else v) for k, v in env.items()}
    with pytest.raises(ConnectorError) as err:
        run(config, env=wrong)
    message = str(err.value)
    assert "credentials rejected" in message and "401" in message and f"`{var}`" in message
    assert "/items" in message
    _assert_no_secret(message)
    assert "wrong-" + SECRET not in message
    _assert_no_secret(caplog.text)
    assert "wrong-" + SECRET not in caplog.text


def test_no_auth_configured_401_says_so(serve) -> None:
    server = serve(_auth_app(lambda req: False))
    with pytest.raises(ConnectorError, match="credentials rejected") as err:
        run({"url": server.url()})
    assert "add `auth:`" in str(err.value)


def test_api_key_in_query_is_masked_in_urls_shown(serve, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="headwater.extract.http")
    env = {"API_KEY": SECRET}
    auth = {"type": "api_key", "name": "key", "in": "query", "value_env": "API_KEY"}
    server = serve(lambda req: Reply(body=b"not json"))
    with pytest.raises(ConnectorError) as err:
        run({"url": server.url(), "auth": auth}, env=env)
    assert "key=***" in str(err.value)
    _assert_no_secret(str(err.value))

    # the server echoes the key back in its Link header, and fails with it in the body
    def app(req: Req) -> Any:
        if req.q("page") == "2":
            return Reply(500, {"error": f"bad key {req.q('key')}"})
        return Reply(
            body=[{"id": 1}],
            headers={"Link": f"<{server.url()}?page=2&key={req.q('key')}>; rel=next"},
        )

    server = serve(app)
    with pytest.raises(TransientConnectorError) as err:
        run(
            {"url": server.url(), "auth": auth, "pagination": "link_header", "retry": FAST_RETRY},
            env=env,
        )
    _assert_no_secret(str(err.value))
    assert server.requests[1].q("key") == SECRET  # sent once, not twice
    assert server.requests[1].query["key"] == [SECRET]
    _assert_no_secret(caplog.text)


def test_credentials_not_sent_to_another_origin(serve) -> None:
    other = serve(lambda req: [{"id": 2, "auth": req.headers.get("authorization")}])
    main = serve(lambda req: Reply(302, None, {"Location": other.url("/moved")}))
    env = {"API_TOKEN": SECRET}
    (batch,) = run(
        {"url": main.url(), "auth": {"type": "bearer", "token_env": "API_TOKEN"}}, env=env
    )
    assert batch.table.to_pylist() == [{"id": 2}]  # `auth` was null: no credentials sent
    assert "authorization" not in other.requests[0].headers
    assert main.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_same_origin_redirect_keeps_credentials(serve) -> None:
    def app(req: Req) -> Any:
        if req.path == "/old":
            return Reply(301, None, {"Location": "/new"})
        return [{"id": 1, "auth": req.headers.get("authorization")}]

    server = serve(app)
    env = {"API_TOKEN": SECRET}
    (batch,) = run(
        {"url": server.url("/old"), "auth": {"type": "bearer", "token_env": "API_TOKEN"}}, env=env
    )
    assert batch.table.to_pylist() == [{"id": 1, "auth": f"Bearer {SECRET}"}]


def test_missing_env_var_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        HttpConnector(
            "api",
            "items",
            {"url": "http://x/y", "auth": {"type": "bearer", "token_env": "NOPE"}},
            env={},
        )
    assert "`NOPE`" in str(err.value) and "export NOPE=" in str(err.value)


def test_literal_secret_in_config_is_refused() -> None:
    with pytest.raises(ConfigError, match="token_env"):
        HttpConnector(
            "api",
            "items",
            {"url": "http://x/y", "auth": {"type": "bearer", "token": "abc"}},
            env={},
        )


# ---------------------------------------------------------------------------------------------
# retries and rate limiting (timings are measured on the server's request log, never slept)


def test_retry_after_seconds_is_honoured(serve) -> None:
    def app(req: Req) -> Any:
        if len(server.requests) == 1:
            return Reply(429, {"error": "slow down"}, {"Retry-After": "1"})
        return [{"id": 1}]

    server = serve(app)
    assert ids(run({"url": server.url(), "retry": {"backoff": 0.001}})) == [1]
    first, second = server.requests
    assert second.at - first.at >= 1.0


def test_retry_after_fraction_and_http_date(serve) -> None:
    def app(req: Req) -> Any:
        n = len(server.requests)
        if n == 1:
            return Reply(429, None, {"Retry-After": "0.3"})
        if n == 2:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)
            return Reply(503, None, {"Retry-After": when})
        return [{"id": 1}]

    server = serve(app)
    assert ids(run({"url": server.url(), "retry": {"backoff": 0.001}})) == [1]
    a, b, c = server.requests
    assert b.at - a.at >= 0.3
    assert c.at - b.at >= 1.0  # an HTTP date has one-second resolution


def test_retry_on_503_then_success(serve) -> None:
    def app(req: Req) -> Any:
        return Reply(503, {"error": "busy"}) if len(server.requests) < 3 else [{"id": 1}]

    server = serve(app)
    assert ids(run({"url": server.url(), "retry": {"max_attempts": 5, "backoff": 0.01}})) == [1]
    assert len(server.requests) == 3


def test_gives_up_after_max_attempts(serve, caplog) -> None:
    server = serve(lambda req: Reply(502, {"error": "bad gateway"}))
    with pytest.raises(TransientConnectorError) as err:
        run({"url": server.url(), "retry": FAST_RETRY})
    assert len(server.requests) == 3
    message = str(err.value)
    assert (
        "gave up after 3 attempts" in message and "HTTP 502" in message and "api.items" in message
    )
    assert isinstance(err.value, TransientError) and isinstance(err.value, ConnectorError)
    assert caplog.text.count("retrying") == 2


def test_retry_after_beyond_limit_fails_fast(serve) -> None:
    server = serve(lambda req: Reply(429, None, {"Retry-After": "3600"}))
    with pytest.raises(TransientConnectorError, match="3600s"):
        run({"url": server.url()})
    assert len(server.requests) == 1


def test_client_errors_are_not_retried(serve) -> None:
    server = serve(lambda req: Reply(400, {"error": "bad param `x`"}))
    with pytest.raises(ConnectorError) as err:
        run({"url": server.url(), "retry": FAST_RETRY})
    assert not isinstance(err.value, TransientError)
    assert "HTTP 400" in str(err.value) and "bad param" in str(err.value)
    assert len(server.requests) == 1


def test_404_names_the_path(serve) -> None:
    server = serve(lambda req: Reply(404, {"error": "nope"}))
    with pytest.raises(ConnectorError) as err:
        run({"url": server.url("/v1/widgets"), "params": {"q": "1"}})
    assert "404" in str(err.value) and "`/v1/widgets`" in str(err.value)


def test_rate_limit(serve) -> None:
    server = serve(lambda req: [{"id": 1}] if int(req.q("page")) < 6 else [])
    start = time.monotonic()
    run({"url": server.url(), "pagination": {"type": "page_number"}, "rate_limit": 20})
    elapsed = time.monotonic() - start
    n = len(server.requests)
    assert n == 6
    assert elapsed >= (n - 1) / 20
    gaps = [b.at - a.at for a, b in zip(server.requests, server.requests[1:], strict=False)]
    assert sum(gaps) >= (n - 1) / 20 - 0.01


def test_rate_limit_burst(serve) -> None:
    server = serve(lambda req: [{"id": 1}] if int(req.q("page")) < 4 else [])
    start = time.monotonic()
    run(
        {
            "url": server.url(),
            "pagination": {"type": "page_number"},
            "rate_limit": 2,
            "rate_limit_burst": 4,
        }
    )
    assert len(server.requests) == 4
    assert time.monotonic() - start < 1.4  # without the burst: >= 1.5 s


# ---------------------------------------------------------------------------------------------
# unreachable servers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_port() -> None:
    port = _free_port()
    conn = HttpConnector(
        "api", "items", {"url": f"http://127.0.0.1:{port}/items", "retry": FAST_RETRY}, env={}
    )
    with pytest.raises(ConnectorError) as err:
        list(conn.extract(ExtractState()))
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message and "refused" in message and "api.items" in message
    assert "check that the server is running" in message
    with pytest.raises(ConnectorError, match="refused"):
        conn.check()


def test_unknown_host() -> None:
    conn = HttpConnector(
        "api",
        "items",
        {"url": "http://no-such-host.invalid/items", "retry": {"max_attempts": 1}},
        env={},
    )
    with pytest.raises(ConnectorError) as err:
        list(conn.extract(ExtractState()))
    assert "no-such-host.invalid" in str(err.value) and "DNS" in str(err.value)


def test_tls_to_a_plain_http_port(serve) -> None:
    server = serve(lambda req: [])
    conn = HttpConnector("api", "items", {"url": f"https://127.0.0.1:{server.port}/items"}, env={})
    with pytest.raises(ConnectorError) as err:
        list(conn.extract(ExtractState()))
    assert "TLS" in str(err.value) and f"127.0.0.1:{server.port}" in str(err.value)


def test_timeout(serve) -> None:
    release = threading.Event()

    def app(req: Req) -> Any:
        release.wait(2)
        return []

    server = serve(app)
    conn = HttpConnector(
        "api", "items", {"url": server.url(), "timeout": 0.2, "retry": {"max_attempts": 1}}, env={}
    )
    with pytest.raises(TransientConnectorError, match=r"did not answer within 0.2s"):
        list(conn.extract(ExtractState()))
    release.set()


def test_check(serve) -> None:
    server = serve(_auth_app(lambda req: req.headers.get("authorization") == f"Bearer {SECRET}"))
    config = {"url": server.url(), "auth": {"type": "bearer", "token_env": "T"}}
    HttpConnector("api", "items", config, env={"T": SECRET}).check()
    with pytest.raises(ConnectorError, match="credentials rejected"):
        HttpConnector("api", "items", config, env={"T": "nope"}).check()


def test_http_proxy_from_env(serve) -> None:
    proxy = serve(lambda req: [{"id": 1, "target": req.url}])
    env = {"HTTP_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "localhost"}
    (batch,) = run({"url": "http://api.example.test/v1/items", "params": {"a": "1"}}, env=env)
    assert batch.table.to_pylist() == [{"id": 1, "target": "http://api.example.test/v1/items?a=1"}]
    direct = serve(lambda req: [{"id": 2}])
    env["NO_PROXY"] = "127.0.0.1"
    assert ids(run({"url": direct.url()}, env=env)) == [2]
    assert len(proxy.requests) == 1


# ---------------------------------------------------------------------------------------------
# configuration errors


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"url": "http://x/y", "paginaton": {}}, "did you mean `pagination`"),
        ({"url": "http://x/y", "pagination": {"type": "page"}}, "unknown pagination type"),
        (
            {"url": "http://x/y", "pagination": {"type": "offset", "limt": 5}},
            "did you mean `limit`",
        ),
        ({"url": "http://x/{org}/y"}, r"`\{org\}`"),
        ({"url": "ftp://x/y"}, "http:// or https://"),
        ({"url": "http://x/y", "method": "DELETE"}, "GET or POST"),
        ({"url": "http://x/y", "body": {"a": 1}}, "POST"),
        ({"url": "http://x/y", "retry": {"max_attempts": 0}}, "max_attempts"),
        ({"url": "http://x/y", "rate_limit": -1}, "rate_limit"),
        ({"url": "http://x/y", "incremental": {"param": "since"}}, "cursor_field"),
        ({"url": "http://x/y", "auth": {"type": "oauth"}}, "unknown auth type"),
        ({"url": "http://x/y", "flatten": "yes"}, "flatten"),
    ],
)
def test_config_errors(config: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        HttpConnector("api", "items", config, env={})


def test_helpers() -> None:
    assert (
        _next_link('<https://a/x?p=2>; rel="next", <https://a/x?p=9>; rel="last"')
        == "https://a/x?p=2"
    )
    assert _next_link('<https://a/x?p=1>; rel="prev"') is None
    assert _next_link('<https://a/x,y>; title="a;b"; rel=next') == "https://a/x,y"
    assert _retry_after("2") == 2.0
    assert _retry_after("junk") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# ---------------------------------------------------------------------------------------------
# property: every record exactly once, in order, for each pagination type

PAGINATIONS = ["page_number", "offset", "cursor", "link_header", "next_url"]


def _paged_app(req: Req) -> Any:
    _, kind, n, size, cap = req.path.split("/")
    n, size, cap = int(n), int(size), int(cap)
    data = [{"id": i} for i in range(n)]
    if kind == "page_number":
        page = int(req.q("page"))
        return {"items": data[(page - 1) * size : page * size]}
    if kind == "offset":
        offset = int(req.q("offset"))
        return {"items": data[offset : offset + min(int(req.q("limit")), cap)]}
    start = int(req.q("at", "0"))
    page = data[start : start + size]
    more = start + size < n
    if kind == "cursor":
        return {"items": page, "next_cursor": str(start + size) if more else None}
    nxt = f"{req.path}?at={start + size}" if more else None
    if kind == "link_header":
        return Reply(body=page, headers={"Link": f'<{nxt}>; rel="next"'} if more else {})
    return {"items": page, "next": nxt}


@pytest.fixture(scope="module")
def paged_server() -> Iterator[Server]:
    server = Server(_paged_app)
    yield server
    server.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(PAGINATIONS),
    n=st.integers(0, 40),
    size=st.integers(1, 9),
    cap=st.integers(1, 9),
    batch_size=st.one_of(st.none(), st.integers(1, 12)),
)
def test_every_record_exactly_once(
    paged_server: Server, kind: str, n: int, size: int, cap: int, batch_size: int | None
) -> None:
    pagination: dict[str, Any] = {"type": kind}
    if kind == "page_number":
        pagination.update(size_param="per_page", page_size=size)
    elif kind == "offset":
        pagination.update(limit=size)
    elif kind == "cursor":
        pagination.update(cursor_param="at")
    config: dict[str, Any] = {
        "url": paged_server.url(f"/{kind}/{n}/{size}/{cap}"),
        "pagination": pagination,
    }
    if batch_size:
        config["batch_size"] = batch_size
    batches = run(config)
    assert ids(batches) == list(range(n))
    assert [b.final for b in batches] == [False] * (len(batches) - 1) + [True]
    if batch_size:
        assert all(b.table.num_rows == batch_size for b in batches[:-1])
