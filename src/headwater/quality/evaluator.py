"""Run checks against relations: all scan-able checks of one relation in a single aggregate query,
join-based and SQL checks one query each, failing-row samples only for checks that failed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from headwater.engines.base import Engine
from headwater.errors import ConfigError, HeadwaterError
from headwater.project.definition import Node
from headwater.quality.checks import CheckContext, check_class

SAMPLE_ROWS = 5
_COND_RE = re.compile(r"^\s*(==|=|!=|<>|>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass
class CheckResult:
    """Outcome of one check: `pass`, `warn`, `fail` (error severity) or `error` (could not run)."""

    unique_id: str
    name: str
    check: str
    node: str | None
    column: str | None
    severity: str
    status: str
    failures: int = 0
    message: str = ""
    query: str = ""
    sample: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0

    @property
    def blocks(self) -> bool:
        """True if the result stops publication (write-audit-publish)."""
        return self.status in ("fail", "error") and self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "unique_id": self.unique_id, "name": self.name, "check": self.check, "node": self.node,
            "column": self.column, "severity": self.severity, "status": self.status,
            "failures": self.failures, "message": self.message, "query": self.query,
            "sample": self.sample, "duration": round(self.duration, 4),
        }  # fmt: skip


@dataclass
class _Planned:
    test: Node
    failing: str
    scan: str | None


class CheckRunner:
    """Evaluates test nodes; ``relation_sql(node)`` says where each checked node lives now
    (a staged relation during write-audit-publish)."""

    def __init__(self, engine: Engine, nodes: dict[str, Node], relation_sql: Callable[[str], str]) -> None:
        self.engine = engine
        self.nodes = nodes
        self.relation_sql = relation_sql

    def run(self, tests: list[Node]) -> list[CheckResult]:
        results: list[CheckResult] = []
        planned: list[_Planned] = []
        for test in tests:
            try:
                planned.append(self.plan(test))
            except HeadwaterError as exc:
                results.append(self._result(test, "error", message=exc.message))
        groups: dict[str, list[_Planned]] = {}
        for p in planned:
            if p.scan is None:
                results.append(self._run_single(p))
            else:
                groups.setdefault(self._attached_relation(p.test), []).append(p)
        for relation, group in groups.items():
            results.extend(self._run_scan(relation, group))
        order = {t.unique_id: i for i, t in enumerate(tests)}
        results.sort(key=lambda r: order.get(r.unique_id, 0))
        return results

    # -- planning -------------------------------------------------------------------------
    def _attached_relation(self, test: Node) -> str:
        assert test.test is not None and test.test.attached_to is not None
        return self.relation_sql(test.test.attached_to)

    def plan(self, test: Node) -> _Planned:
        spec = test.test
        assert spec is not None
        if spec.name == "singular":
            return _Planned(test, (test.compiled_sql or "").strip().rstrip(";"), None)
        cls = check_class(spec.name, node=test.name)
        kwargs = dict(spec.kwargs)
        column = kwargs.pop("column_name", None) or spec.column
        ctx = CheckContext(
            relation=self._attached_relation(test),
            column=column,
            kwargs=kwargs,
            where=test.config.get("where"),
            resolve=self._resolve,
        )
        check = cls()
        return _Planned(test, check.failing(ctx), check.scan(ctx))

    def _resolve(self, value: Any) -> str:
        if isinstance(value, dict) and "__relation__" in value:
            return self.relation_sql(value["__relation__"])
        raise ConfigError(f"expected ref('...') or source('...', '...'), got `{value}`")

    # -- running --------------------------------------------------------------------------
    def _run_scan(self, relation: str, group: list[_Planned]) -> list[CheckResult]:
        started = time.perf_counter()
        exprs = ", ".join(f"{p.scan} AS c{i}" for i, p in enumerate(group))
        try:
            row = self.engine.execute(f"SELECT {exprs} FROM {relation} AS t")[0]
        except HeadwaterError:
            return [self._run_single(p) for p in group]  # find which check is broken
        elapsed = (time.perf_counter() - started) / len(group)
        out = []
        for p, count in zip(group, row, strict=True):
            if count:
                out.append(self._run_single(p))
            else:
                out.append(self._finish(p.test, 0, p.failing, elapsed))
        return out

    def _run_single(self, p: _Planned) -> CheckResult:
        started = time.perf_counter()
        try:
            count = self.engine.execute(f"SELECT count(*) FROM (\n{p.failing}\n) AS failing")[0][0]
            sample: list[dict[str, Any]] = []
            if count:
                sample = self._sample(p.failing)
        except HeadwaterError as exc:
            return self._result(p.test, "error", message=exc.message, query=p.failing)
        result = self._finish(p.test, int(count), p.failing, time.perf_counter() - started)
        result.sample = sample
        if sample and result.status != "pass":
            result.message += ", e.g. " + _sample_text(sample)
        return result

    def _sample(self, failing: str) -> list[dict[str, Any]]:
        names, rows = self.engine.query(f"SELECT * FROM (\n{failing}\n) AS failing LIMIT {SAMPLE_ROWS}")  # type: ignore[attr-defined]
        return [{n: _jsonable(v) for n, v in zip(names, r, strict=True)} for r in rows]

    def _finish(self, test: Node, failures: int, query: str, duration: float) -> CheckResult:
        status = evaluate_status(failures, test.config)
        unit = "failing rows"
        if test.test and test.test.name != "singular":
            unit = check_class(test.test.name).unit
        message = "" if status == "pass" else f"{failures:,} {unit}"
        result = self._result(test, status, failures=failures, message=message, query=query)
        result.duration = duration
        return result

    def _result(self, test: Node, status: str, **kwargs: Any) -> CheckResult:
        spec = test.test
        attached = self.nodes.get(spec.attached_to) if spec and spec.attached_to else None
        return CheckResult(
            unique_id=test.unique_id,
            name=test.name,
            check=spec.name if spec else "singular",
            node=attached.display_name if attached else None,
            column=spec.column if spec else None,
            severity=test.severity,
            status=status,
            **kwargs,
        )


def evaluate_status(failures: int, config: dict[str, Any]) -> str:
    """dbt's rules: error severity fails on `error_if`, else warns on `warn_if`."""
    severity = str(config.get("severity", "error")).lower()
    error_if = _condition(config.get("error_if", "!=0"))
    warn_if = _condition(config.get("warn_if", "!=0"))
    if severity == "error" and error_if(failures):
        return "fail"
    if warn_if(failures):
        return "warn"
    return "pass"


def _condition(text: Any) -> Callable[[int], bool]:
    match = _COND_RE.match(str(text))
    if not match:
        raise ConfigError(f"cannot read threshold `{text}`", hint="write e.g. `>10` or `!=0`")
    op, num = match.group(1), float(match.group(2))
    ops: dict[str, Callable[[float, float], bool]] = {
        "==": lambda a, b: a == b, "=": lambda a, b: a == b, "!=": lambda a, b: a != b,
        "<>": lambda a, b: a != b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b, "<": lambda a, b: a < b,
    }  # fmt: skip
    fn = ops[op]
    return lambda n: fn(n, num)


def _sample_text(sample: list[dict[str, Any]], n: int = 3) -> str:
    """`unique_field=7 (n_records=2); ...` from the first sampled rows, kept short."""
    parts = []
    for row in sample[:n]:
        items = list(row.items())[:3]
        parts.append(", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in items))
    text = "; ".join(f"({p})" for p in parts)
    return text if len(text) < 200 else text[:197] + "..."


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
