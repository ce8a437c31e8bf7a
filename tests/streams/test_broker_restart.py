"""A broker restart under a running stream: a private Redis (append-only file, fsync always) is
killed and started again while `headwater stream run` consumes and a producer writes; the stream
reconnects and the sink ends with every event once. Needs the `redis-server` binary (every machine
of this project has it; under CI=true its absence fails the test)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.streams.conftest import need

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # the server is starting

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        need("the redis-server binary is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def landed(root: Path) -> int:
    """Rows in the sink now (0 while it does not exist, or while a commit holds the file)."""
    try:
        con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    except duckdb.Error:
        return 0
    try:
        return int(con.execute("select count(*) from raw.events").fetchone()[0])  # type: ignore[index]
    except duckdb.Error:
        return 0
    finally:
        con.close()


def test_a_redis_restart_loses_and_duplicates_nothing(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    import redis

    root = tmp_path / "p"
    (root / "streams").mkdir(parents=True)
    (root / "headwater.yml").write_text("name: r\n")
    (root / "streams" / "s.yml").write_text(
        "streams:\n  - name: events\n    source:\n      connector: redis\n"
        f"      url: redis://127.0.0.1:{private_redis.port}/0\n      topic: ev\n      group: g\n"
        "    schema: {id: BIGINT}\n    sink: {table: raw.events}\n"
        "    trigger: {max_records: 200, max_seconds: 0.2}\n"
    )  # fmt: skip
    total = 3000
    stop = threading.Event()
    sent = {"n": 0}

    def producer() -> None:
        client = redis.Redis(port=private_redis.port, socket_timeout=1)
        while sent["n"] < total and not stop.is_set():
            try:
                client.xadd("ev", {"data": json.dumps({"id": sent["n"]})})
                sent["n"] += 1
            except redis.ConnectionError:
                time.sleep(0.05)  # the broker is down: retry the same event
            if sent["n"] % 100 == 0:
                time.sleep(0.01)

    feeder = threading.Thread(target=producer, daemon=True)
    feeder.start()
    run = subprocess.Popen(
        [sys.executable, "-m", "headwater", "stream", "run", "events", "--quiet", "--project-dir", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while landed(root) < total // 4:  # the stream is up and committing
        if time.monotonic() > deadline or run.poll() is not None:
            run.kill()
            pytest.fail("the stream did not commit: " + run.communicate(timeout=10)[1][-3000:])
        time.sleep(0.1)
    private_redis.kill()
    time.sleep(6.0)  # down longer than the client's own retries: the stream must ride it out
    private_redis.start()
    feeder.join(timeout=60)
    deadline = time.monotonic() + 60
    while landed(root) < total and time.monotonic() < deadline:
        time.sleep(0.2)  # the stream catches up
    run.send_signal(2)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 0, err[-3000:]
    con = duckdb.connect(str(root / ".headwater" / "warehouse.duckdb"), read_only=True)
    ids = [r[0] for r in con.execute("select id from raw.events").fetchall()]
    con.close()
    assert len(ids) == len(set(ids)) == total and set(ids) == set(range(total))
    from headwater.context import Context

    with Context(root) as ctx:  # the outage was seen and counted (`stream status` errors)
        uid = next(n.unique_id for n in ctx.manifest.nodes.values() if n.name == "events")
        errors = [
            p.value for p in ctx.state.metrics.series(uid, 1000) if p.metric == "stream_errors"
        ]
    assert sum(v or 0 for v in errors) >= 1
