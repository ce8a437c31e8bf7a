"""Shared helpers for the expectation tests: a DuckDB table from rows, a counting executor."""

from __future__ import annotations

from typing import Any

import duckdb

from headwater.quality.expectations import SuiteResult, parse_expectation, validate_relation


class Runner:
    """An in-memory DuckDB with one table ``t`` and an ``execute`` that records statements."""

    def __init__(self, schema: str, rows: list[tuple]) -> None:
        self.con = duckdb.connect()
        self.con.execute(f"CREATE TABLE t ({schema})")
        if rows:
            marks = ", ".join("?" for _ in rows[0])
            self.con.executemany(f"INSERT INTO t VALUES ({marks})", [list(r) for r in rows])
        self.statements: list[str] = []

    def execute(self, sql: str) -> tuple[list[str], list[tuple]]:
        self.statements.append(sql)
        cur = self.con.execute(sql)
        return [d[0] for d in cur.description], cur.fetchall()

    def run(self, *expectations: Any, **kwargs: Any) -> SuiteResult:
        configs = [parse_expectation(e) for e in expectations]
        return validate_relation(self.execute, '"t"', configs, **kwargs)


def one(schema: str, rows: list[tuple], expectation: str, result_format: Any = None, **kwargs: Any):
    """Run one expectation and return its `ExpectationResult`."""
    runner = Runner(schema, rows)
    result = runner.run({expectation: kwargs}, result_format=result_format)
    return result.results[0]
