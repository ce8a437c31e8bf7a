"""librdkafka's built-in mock Kafka cluster, served to other processes over TCP.

No Kafka broker (JVM) can be installed on the machines this project runs on, but librdkafka (the C
library inside confluent-kafka) carries a mock cluster that speaks the Kafka protocol: produce,
fetch, metadata, consumer groups with offset commits and rebalances, transactions. A client made
with ``test.mock.num.brokers: N`` starts N mock brokers on 127.0.0.1 ports and any other client,
in any process, can use them as ``bootstrap.servers``. This module keeps such a client alive in a
process of its own, so that consumer processes can be SIGKILLed and restarted against it the way
they would be against a real cluster.

The mock's C API (``rd_kafka_mock_*``, exported by the librdkafka that confluent-kafka bundles) is
reached through ctypes, because the Python client does not expose it and three things need it:

* **topics with N partitions.** The mock implements no CreateTopics request (admin calls fail) and
  auto-creates unknown topics with librdkafka's default of 4 partitions; ``rd_kafka_mock_topic_create``
  creates a topic with the partitions a test needs.
* **fast group joins.** The mock delays a new group's first rebalance by 3 s (Kafka's
  ``group.initial.rebalance.delay.ms``); tests set 0 so that a consumer is assigned at once.
* **a broker restart that keeps the data.** The cluster lives in memory, so restarting the process
  loses every topic and offset (and the brokers come back on other ports). Instead,
  ``rd_kafka_mock_broker_set_down`` drops every connection and refuses new ones, on the same ports,
  and ``..._set_up`` accepts them again: clients see the outage a broker restart causes, and the log
  and committed offsets survive.

What the mock does differently from Kafka, as found in librdkafka 2.16 (and worked around or to
keep in mind):

* ListOffsets by timestamp answers -1 for every timestamp, so ``offsets_for_times`` finds nothing
  (`KafkaSource` falls back to a binary search over the messages' timestamps); earliest/latest
  (-2/-1) are answered.
* Admin requests (CreateTopics, DescribeGroups, ...) are not implemented.
* Each partition keeps only its last 5 MB (or 100k produce batches): older messages are dropped
  and the low watermark moves, silently. 200-byte events: ~23k per partition uncompressed, ~170k
  with ``compression.type: zstd``. A benchmark must spread its events over enough partitions,
  compress, or consume while it produces.
* A rebalance of a running group waits ``session.timeout.ms - 1 s`` for its members to rejoin,
  even when all have (or the last one left), and the mock holds each member's JoinGroup, and its
  connection to the coordinator, until then, which can pause fetches from that broker. Use a short ``session.timeout.ms`` (2 s: ~1 s
  rebalances) in tests; librdkafka's default of 45 s makes a group that is closed and reopened
  read nothing for 44 s.
* Offsets committed from outside the group (generation -1, as `KafkaSource.reset` does) are
  refused with UNKNOWN_MEMBER_ID once the group has had a member; Kafka takes them whenever the
  group is empty.
* Nothing is persisted: stopping the process loses everything.

Command line::

    python -m headwater.streams.mock_kafka [--brokers 3] [--partitions N --topic NAME ...]

prints the bootstrap servers on one line and serves until SIGTERM or SIGINT. With ``--control``
it also reads commands from stdin (``topic NAME PARTITIONS``, ``down [BROKER]``, ``up [BROKER]``),
answers each with one line (``ok`` or ``error ...``), and exits when stdin closes, so a cluster
started by a test dies with the test process even if that is SIGKILLed. `MockKafka` does all that
from Python.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import glob
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

DEFAULT_BROKERS = 3
DEFAULT_PARTITIONS = 4
"""What librdkafka's mock gives a topic it auto-creates (a producer's first message to it)."""
_ERRSTR_SIZE = 512


class MockKafkaError(RuntimeError):
    """The mock cluster could not be started or refused a command."""


def _find_librdkafka() -> str:
    """The path of the librdkafka that confluent-kafka's extension uses.

    Wheels bundle it (auditwheel: ``confluent_kafka.libs/librdkafka-<hash>.so.1``, delocate:
    ``confluent_kafka/.dylibs/librdkafka.1.dylib``); a source build links the system library.
    Loading the same file keeps the mock's protocol in step with the client the tests use.
    """
    import confluent_kafka

    package = os.path.dirname(confluent_kafka.__file__)
    patterns = [
        os.path.join(os.path.dirname(package), "confluent_kafka.libs", "librdkafka*"),
        os.path.join(package, ".dylibs", "librdkafka*"),
        os.path.join(package, "librdkafka*"),
    ]
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    import ctypes.util

    system = ctypes.util.find_library("rdkafka")
    if system:
        return system
    raise MockKafkaError(
        "cannot find the librdkafka library confluent-kafka uses (looked next to "
        f"{package} and for a system librdkafka)"
    )


class _Cluster:
    """A mock cluster in this process, driven through librdkafka's C API."""

    def __init__(self, brokers: int, rebalance_delay_ms: int) -> None:
        lib = ctypes.CDLL(_find_librdkafka())
        self._lib = lib
        vp, cp, i32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32
        lib.rd_kafka_conf_new.restype = vp
        lib.rd_kafka_conf_set.argtypes = [vp, cp, cp, cp, ctypes.c_size_t]
        lib.rd_kafka_conf_set.restype = ctypes.c_int
        lib.rd_kafka_new.argtypes = [ctypes.c_int, vp, cp, ctypes.c_size_t]
        lib.rd_kafka_new.restype = vp
        lib.rd_kafka_destroy.argtypes = [vp]
        lib.rd_kafka_handle_mock_cluster.argtypes = [vp]
        lib.rd_kafka_handle_mock_cluster.restype = vp
        lib.rd_kafka_mock_cluster_bootstraps.argtypes = [vp]
        lib.rd_kafka_mock_cluster_bootstraps.restype = cp
        lib.rd_kafka_mock_topic_create.argtypes = [vp, cp, ctypes.c_int, ctypes.c_int]
        lib.rd_kafka_mock_topic_create.restype = ctypes.c_int
        lib.rd_kafka_mock_broker_set_down.argtypes = [vp, i32]
        lib.rd_kafka_mock_broker_set_down.restype = ctypes.c_int
        lib.rd_kafka_mock_broker_set_up.argtypes = [vp, i32]
        lib.rd_kafka_mock_broker_set_up.restype = ctypes.c_int
        lib.rd_kafka_err2str.argtypes = [ctypes.c_int]
        lib.rd_kafka_err2str.restype = cp

        errstr = ctypes.create_string_buffer(_ERRSTR_SIZE)
        conf = lib.rd_kafka_conf_new()
        # log_level 4 hides the notice that the mock replaced bootstrap.servers (it always does)
        for key, value in (("test.mock.num.brokers", str(brokers)), ("log_level", "4")):
            if lib.rd_kafka_conf_set(conf, key.encode(), value.encode(), errstr, _ERRSTR_SIZE) != 0:
                raise MockKafkaError(f"librdkafka rejected {key}={value}: {errstr.value.decode()}")
        # RD_KAFKA_PRODUCER: the handle only owns the cluster; it never produces
        self._rk = lib.rd_kafka_new(0, conf, errstr, _ERRSTR_SIZE)
        if not self._rk:
            raise MockKafkaError(
                f"librdkafka could not start the mock cluster: {errstr.value.decode()}"
            )
        self._mcluster = lib.rd_kafka_handle_mock_cluster(self._rk)
        if not self._mcluster:
            lib.rd_kafka_destroy(self._rk)
            raise MockKafkaError("this librdkafka has no mock cluster (test.mock.num.brokers)")
        self.brokers = brokers
        self.replication = min(3, brokers)
        if hasattr(lib, "rd_kafka_mock_group_initial_rebalance_delay_ms"):
            lib.rd_kafka_mock_group_initial_rebalance_delay_ms.argtypes = [vp, i32]
            lib.rd_kafka_mock_group_initial_rebalance_delay_ms(self._mcluster, rebalance_delay_ms)
        self.bootstrap: str = lib.rd_kafka_mock_cluster_bootstraps(self._mcluster).decode()

    def _check(self, err: int, what: str) -> None:
        if err:
            raise MockKafkaError(f"{what}: {self._lib.rd_kafka_err2str(err).decode()}")

    def create_topic(self, name: str, partitions: int) -> None:
        if partitions < 1:
            raise MockKafkaError(f"topic {name}: partitions must be >= 1, not {partitions}")
        err = self._lib.rd_kafka_mock_topic_create(
            self._mcluster, name.encode(), partitions, self.replication
        )
        self._check(err, f"creating topic {name}")

    def set_down(self, broker: int = -1) -> None:
        """Close the broker's (-1: every broker's) connections and refuse new ones; its port and
        its data are kept."""
        self._check(self._lib.rd_kafka_mock_broker_set_down(self._mcluster, broker), "broker down")

    def set_up(self, broker: int = -1) -> None:
        self._check(self._lib.rd_kafka_mock_broker_set_up(self._mcluster, broker), "broker up")

    def close(self) -> None:
        if self._rk:
            self._lib.rd_kafka_destroy(self._rk)
            self._rk = None

    def command(self, line: str) -> str:
        """Run one control command (see the module doc); the answer line."""
        words = line.split()
        try:
            if not words:
                return "error empty command"
            if words[0] == "topic" and len(words) == 3:
                self.create_topic(words[1], int(words[2]))
            elif words[0] in ("down", "up") and len(words) <= 2:
                broker = int(words[1]) if len(words) == 2 else -1
                (self.set_down if words[0] == "down" else self.set_up)(broker)
            elif words[0] == "ping" and len(words) == 1:
                pass
            else:
                return f"error unknown command {line.strip()!r}"
        except (MockKafkaError, ValueError) as exc:
            return f"error {exc}"
        return "ok"


def serve(argv: Sequence[str] | None = None) -> int:
    """The command line: start the cluster, print its bootstrap servers, serve until a signal
    (or, with ``--control``, until stdin closes)."""
    parser = argparse.ArgumentParser(
        prog="python -m headwater.streams.mock_kafka",
        description="Serve librdkafka's mock Kafka cluster to other processes.",
    )
    parser.add_argument("--brokers", type=int, default=DEFAULT_BROKERS, help="number of brokers")
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help=f"partitions of each --topic (default {DEFAULT_PARTITIONS}; topics a producer "
        "auto-creates always get librdkafka's fixed 4)",
    )
    parser.add_argument("--topic", action="append", default=[], help="create this topic at start")
    parser.add_argument(
        "--rebalance-delay-ms",
        type=int,
        default=0,
        help="delay of a new group's first rebalance (Kafka's default is 3000)",
    )
    parser.add_argument(
        "--control", action="store_true", help="read commands from stdin; exit when it closes"
    )
    args = parser.parse_args(argv)
    if args.brokers < 1:
        parser.error("--brokers must be >= 1")
    if args.partitions is not None and not args.topic:
        parser.error("--partitions sets the partitions of the --topic topics; name at least one")

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        cluster = _Cluster(args.brokers, args.rebalance_delay_ms)
    except MockKafkaError as exc:
        print(f"mock_kafka: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        for topic in args.topic:
            cluster.create_topic(topic, args.partitions or DEFAULT_PARTITIONS)
        print(cluster.bootstrap, flush=True)
        if args.control:
            for line in sys.stdin:
                print(cluster.command(line), flush=True)
        else:
            while True:
                time.sleep(3600)
    except MockKafkaError as exc:
        print(f"mock_kafka: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        cluster.close()
    return 0


class MockKafka:
    """A mock Kafka cluster in a child process, for tests and benchmarks.

    >>> with MockKafka(brokers=3) as kafka:          # doctest: +SKIP
    ...     kafka.create_topic("orders", partitions=6)
    ...     Producer({"bootstrap.servers": kafka.bootstrap})

    The child reads commands from a pipe and exits when the pipe closes, so it never outlives the
    process that started it. ``restart()`` is a broker restart that keeps the data: every broker
    drops its connections and refuses new ones for ``downtime`` seconds, on the same ports.
    Stopping the child (``close()``) loses every topic and offset: the mock lives in memory.
    """

    def __init__(
        self, brokers: int = DEFAULT_BROKERS, *, rebalance_delay_ms: int = 0, timeout: float = 20.0
    ) -> None:
        self.brokers = brokers
        self.rebalance_delay_ms = rebalance_delay_ms
        self.timeout = timeout
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._bootstrap: str | None = None
        self._reader: threading.Thread | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port,host:port,...`` of the brokers (``bootstrap.servers``)."""
        if self._bootstrap is None:
            raise MockKafkaError("the mock cluster is not running (use `with MockKafka() as k:`)")
        return self._bootstrap

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> MockKafka:
        if self._proc is not None:
            return self
        self._lines = queue.Queue()
        cmd = [
            sys.executable, "-m", "headwater.streams.mock_kafka", "--control",
            "--brokers", str(self.brokers), "--rebalance-delay-ms", str(self.rebalance_delay_ms),
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self._reader = threading.Thread(
            target=self._read, args=(self._proc, self._lines), name="mock-kafka-out", daemon=True
        )
        self._reader.start()
        line = self._next_line("start")
        if not line or ":" not in line:
            self.close()
            raise MockKafkaError(f"the mock cluster did not start (it printed {line!r})")
        self._bootstrap = line
        return self

    @staticmethod
    def _read(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        """Move the child's stdout lines into ``lines`` (None at its end), so that every wait on
        it has a deadline."""
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    def _next_line(self, what: str) -> str | None:
        try:
            return self._lines.get(timeout=self.timeout)
        except queue.Empty:
            raise MockKafkaError(
                f"the mock cluster did not answer `{what}` in {self.timeout} s"
            ) from None

    def command(self, line: str) -> None:
        """Send one control command; raise `MockKafkaError` unless the child answers ``ok``."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.poll() is not None:
                raise MockKafkaError("the mock cluster is not running")
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            answer = self._next_line(line)
        if answer != "ok":
            raise MockKafkaError(f"mock cluster: `{line}` failed: {answer}")

    def create_topic(self, name: str, partitions: int = DEFAULT_PARTITIONS) -> None:
        """Create ``name`` with ``partitions`` partitions (an error if it exists)."""
        self.command(f"topic {name} {partitions}")

    def down(self, broker: int | None = None) -> None:
        """Take one broker (1..N) or all of them down: connections closed, new ones refused."""
        self.command("down" if broker is None else f"down {broker}")

    def up(self, broker: int | None = None) -> None:
        self.command("up" if broker is None else f"up {broker}")

    def restart(self, downtime: float = 1.0, broker: int | None = None) -> None:
        """A broker restart that keeps topics, messages, groups and committed offsets: the
        brokers are unreachable for ``downtime`` seconds, then accept connections on the same
        ports. (A restart of the mock's process would lose all of it.)"""
        self.down(broker)
        try:
            time.sleep(downtime)  # the outage itself, not a wait for a condition
        finally:
            self.up(broker)

    def close(self) -> None:
        """Stop the child: closing its stdin ends it; SIGKILL if it does not exit in time."""
        proc, self._proc, self._bootstrap = self._proc, None, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):  # a broken pipe: the child is gone already
                proc.stdin.close()
        try:
            proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=self.timeout)  # it ends at the child's EOF
            self._reader = None
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> MockKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(serve())
