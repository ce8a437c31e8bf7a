"""`benchmarks/streams.py`'s throughput comparison on a small set: the raw client, the raw client
with a minimal DuckDB landing, and `headwater stream run` read the same events, and the two that
land them land all of them, typed. Timings are printed by the benchmark, never asserted here."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.benchmark_modules import load_benchmark
from tests.streams import kafka_cluster as kafka_fixtures
from tests.streams.conftest import REDIS_URL

kafka_cluster = kafka_fixtures.kafka_cluster


@pytest.mark.parametrize("broker", ["redis", "kafka"])
def test_throughput_lands_the_same_events_three_ways(
    broker: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    bench: Any = load_benchmark("streams")
    factory: Any
    if broker == "redis":
        request.getfixturevalue("redis_key")  # Redis is up (or the test skips / fails in CI)
        bench.REDIS_URL = REDIS_URL
        factory = bench.redis_broker
    else:
        cluster = request.getfixturevalue("kafka_cluster")

        def factory(topic: str) -> Any:
            return bench.kafka_broker(topic, cluster)

    n = 3000
    result = bench.throughput(factory, n, "plain", "", tmp_path, landing=True)
    assert result.events == n and min(result.raw_eps, result.hw_eps, result.land_eps) > 0

    events = [json.loads(e) for e in bench.events(0, n)]
    expected = (n, n * (n - 1) // 2, sum(Decimal(e["amount"]) for e in events))
    [landing] = tmp_path.glob("landing-*.duckdb")
    [warehouse] = tmp_path.glob(f"{broker}-plain-*/.headwater/warehouse.duckdb")
    for path, table in ((landing, "orders"), (warehouse, "raw.orders")):
        con = duckdb.connect(str(path), read_only=True)
        try:
            got = con.execute(
                f"select count(*), sum(order_id), sum(amount) from {table} where ts is not null"
            ).fetchone()
        finally:
            con.close()
        assert got == expected, path

    rows = bench.StreamResult(throughput=[result]).rows()
    assert [r.benchmark for r in rows] == [
        f"streams: {broker} plain, {n:,} events",
        f"streams: {broker} plain, against landing by hand",
    ]
    assert rows[0].goal == ">= 0.70x" and rows[1].ok is None
