"""A small dlt source used by the dlt connector tests (imported by module path, as users do)."""

from __future__ import annotations

import dlt


@dlt.resource(primary_key="id", write_disposition="merge")
def users(n: int = 3, version: int = 1):
    for i in range(n):
        yield {
            "id": i,
            "name": f"user{i}-v{version}",
            "address": {"city": "Oslo", "zip": str(1000 + i)},
        }


@dlt.resource
def events():
    yield [{"kind": "click", "n": 1}, {"kind": "view", "n": 2}]


@dlt.source
def crm(n: int = 3, version: int = 1):
    return users(n, version), events()


def broken():
    raise RuntimeError("API down")
    yield  # pragma: no cover
