"""`headwater stream run|status|reset` at the command line: the status table's columns, reset
with the warehouse held by another process, `--max-seconds` values, and load errors printed once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from headwater.context import Context
from tests.conftest import CliResult
from tests.streams import conftest as stream_fixtures
from tests.streams.conftest import REDIS_URL

redis_key = stream_fixtures.redis_key
produce_redis = stream_fixtures.produce_redis


def stream_file(
    key: str, sink: str = "sink: {table: raw.events}", url: str = REDIS_URL
) -> dict[str, str]:
    return {"streams/s.yml": f"""\
streams:
  - name: events
    source: {{connector: redis, url: "{url}", topic: {key}, group: g}}
    schema: {{id: BIGINT}}
    {sink}
"""}  # fmt: skip


def parse_table(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of a rich table printed without a terminal."""
    header: list[str] = []
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("┃"):
            header = [cell.strip() for cell in line.strip("┃").split("┃")]
        elif line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return header, rows


# -- 1. the status table ---------------------------------------------------------------------------


def test_status_table_header_and_rows_line_up(capsys: pytest.CaptureFixture[str]) -> None:
    from headwater.cli.render.stream import print_status
    from headwater.streams.commands import StatusReport
    from headwater.streams.monitor import StreamStatus

    status = StreamStatus(
        "orders_live", "stream.t.orders_live", processes=["a", "b"], events_per_s=1234.0,
        dlq_rate=0.25, latency_p50=0.012, latency_p99=2.5, last_commit=None, watermark=0.0,
        lag={"0": 5.0, "1": 7.0}, errors=3.0,
    )  # fmt: skip
    print_status(StatusReport([status]))
    header, rows = parse_table(capsys.readouterr().out)
    assert header == [
        "stream", "processes", "events/s", "lag", "DLQ rate", "errors", "p50", "p99",
        "last commit", "watermark",
    ]  # fmt: skip
    assert len(rows) == 1 and len(rows[0]) == len(header), rows
    row = dict(zip(header, rows[0], strict=True))
    assert row == {
        "stream": "orders_live",
        "processes": "2",
        "events/s": "1,234",
        "lag": "12 (0: 5, 1: 7)",
        "DLQ rate": "25.00%",
        "errors": "3",
        "p50": "12ms",
        "p99": "2.5s",
        "last commit": "never",
        "watermark": "1970-01-01 00:00:00",
    }


def test_status_table_after_a_run(
    make_project: Callable[..., Path],
    redis_key: str,
    produce_redis: Callable[[list[bytes | dict]], None],
    cli: Callable[..., CliResult],
) -> None:
    root = make_project(stream_file(redis_key))
    produce_redis([{"id": i} for i in range(10)])
    assert cli("stream", "run", "events", "--until-idle", "--project-dir", root).code == 0
    res = cli("stream", "status", "--project-dir", root)
    assert res.code == 0, res.err
    header, rows = parse_table(res.out)
    assert len(rows) == 1 and len(rows[0]) == len(header) == 10, res.out
    row = dict(zip(header, rows[0], strict=True))
    assert row["stream"] == "events" and row["errors"] == "0" and row["lag"] == "0", res.out
    for column in ("p50", "p99"):  # a duration, not the errors count shifted right
        assert row[column].endswith(("ms", "s")), res.out
    assert row["last commit"].endswith("ago"), res.out


# -- 2. reset while the warehouse is held ----------------------------------------------------------


def group_position(key: str) -> dict[str, object]:
    """The group as XINFO GROUPS shows it: last-delivered id, consumers, pending, ..."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        (group,) = client.xinfo_groups(key)
    finally:
        client.close()
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in group.items()}


class Holder:
    """Another process that opens a DuckDB file read-write, as a running `stream run` does."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def hold(self, path: Path) -> None:
        """Returns once the other process has the file open."""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
             "print('held', flush=True); sys.stdin.read()", str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "held", "the holder could not open it"

    def release(self) -> None:
        """Close its stdin and wait: the process exits and DuckDB releases the file."""
        if self.proc is not None:
            self.proc.communicate(timeout=30)
            assert self.proc.returncode == 0
            self.proc = None


@pytest.fixture
def holder() -> Iterator[Holder]:
    h = Holder()
    yield h
    h.release()


def test_reset_with_the_warehouse_in_use_moves_nothing(
    make_project: Callable[..., Path],
    redis_key: str,
    produce_redis: Callable[[list[bytes | dict]], None],
    cli: Callable[..., CliResult],
    holder: Holder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HEADWATER_LOCK_TIMEOUT", raising=False)  # fail at once, do not wait
    root = make_project(stream_file(redis_key))
    produce_redis([{"id": i} for i in range(20)])
    assert cli("stream", "run", "events", "--until-idle", "--project-dir", root).code == 0
    before = group_position(redis_key)
    assert before["entries-read"] == 20 and before["last-delivered-id"] != "0-0", before
    warehouse = root / ".headwater" / "warehouse.duckdb"
    assert warehouse.exists()

    holder.hold(warehouse)
    for to in ("earliest", "latest", "2000-01-01T00:00:00Z"):
        res = cli("stream", "reset", "events", "--to", to, "--project-dir", root)
        assert res.code == 1, (res.out, res.err)
        assert "is in use by another process" in res.err and "reset to" not in res.out
        assert group_position(redis_key) == before  # the broker's group did not move

    holder.release()
    res = cli("stream", "reset", "events", "--to", "earliest", "--project-dir", root)
    assert res.code == 0 and "reset to earliest" in res.out, res.err
    # the same reset moves the group once it can (so the checks above could see a move)
    assert group_position(redis_key)["last-delivered-id"] == "0-0"
    assert cli("stream", "run", "events", "--until-idle", "--project-dir", root).code == 0
    with Context(root) as ctx:
        assert ctx.query("select count(*), count(distinct id) from raw.events")[1] == [(40, 20)]


# -- 3. --max-seconds ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "0", "-5", "-inf"])
def test_max_seconds_must_be_finite_and_positive(
    make_project: Callable[..., Path], cli: Callable[..., CliResult], value: str
) -> None:
    # no broker listens there: the option is refused before anything connects
    root = make_project(stream_file("never-read", url="redis://127.0.0.1:1/0"))
    res = cli("stream", "run", "events", f"--max-seconds={value}", "--project-dir", root)
    assert res.code == 2, (res.out, res.err)
    assert "--max-seconds must be a positive number of seconds" in res.err
    assert res.out == ""


def test_max_seconds_finite_still_runs(
    make_project: Callable[..., Path], redis_key: str, cli: Callable[..., CliResult]
) -> None:
    root = make_project(stream_file(redis_key))
    res = cli("stream", "run", "events", "--max-seconds", "0.5", "--project-dir", root)
    assert res.code == 0, res.err
    assert "events: 0 events" in res.out


# -- 4. load errors printed once -------------------------------------------------------------------

BAD_SINK = "sink: {tablex: raw.events}"


@pytest.mark.parametrize(
    "command",
    [
        ["stream", "run", "events", "--until-idle"],
        ["stream", "status"],
        ["stream", "status", "events"],
        ["stream", "reset", "events", "--to", "earliest"],
    ],
)
def test_an_invalid_stream_file_is_reported_once(
    make_project: Callable[..., Path], cli: Callable[..., CliResult], command: list[str]
) -> None:
    root = make_project(stream_file("never-read", BAD_SINK))
    res = cli(*command, "--project-dir", root)
    assert res.code == 2, (res.out, res.err)
    assert res.err.count("unknown key `tablex`") == 1, res.err
    assert res.err.count("error:") == 1, res.err


@pytest.mark.parametrize("command", [["stream", "run", "events"], ["stream", "status", "events"]])
def test_an_unparsable_stream_file_is_reported_once(
    make_project: Callable[..., Path], cli: Callable[..., CliResult], command: list[str]
) -> None:
    root = make_project({"streams/s.yml": "streams:\n  - name: events\n    source: [\n"})
    res = cli(*command, "--project-dir", root)
    assert res.code == 2, (res.out, res.err)
    assert res.err.count("invalid YAML") == 1, res.err
    assert res.err.count("error:") == 1, res.err
