"""Shared stream fixtures: a real Redis (127.0.0.1:6379) for the processor's tests, and a project
writer for stream files. Under `CI=true` a missing broker fails instead of skipping."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_URL = os.environ.get("HW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def need(reason: str | None) -> None:
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the broker must be running)")
        pytest.skip(reason)


@pytest.fixture
def redis_key() -> Iterator[str]:
    """A fresh Redis stream key, deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        need(f"Redis at {REDIS_URL} is not available: {exc}")
    key = f"hwt-{uuid.uuid4().hex[:10]}"
    yield key
    client.delete(key)
    client.close()


@pytest.fixture
def produce_redis(redis_key: str) -> Callable[[list[bytes | dict]], None]:
    """XADD payloads (bytes, or dicts written as JSON) to the test's stream key, in order."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)

    def produce(values: list[bytes | dict]) -> None:
        pipe = client.pipeline(transaction=False)
        for v in values:
            data = v if isinstance(v, bytes) else json.dumps(v).encode()
            pipe.xadd(redis_key, {"data": data})
        pipe.execute()

    return produce
