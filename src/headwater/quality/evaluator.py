"""Run checks against relations: all scan-able checks of one relation in a single aggregate query,
join-based and SQL checks one query each, failing-row samples only for checks that failed.

Engine-specific SQL comes from the engine (`engine.functions` for checks and expectations,
`engine.strategies` for `store_failures` tables), so the same runner audits DuckDB and
PostgreSQL relations, one scan per relation on both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.engines.base import Engine
from headwater.engines.functions import Functions
from headwater.errors import ConfigError, HeadwaterError
from headwater.project.definition import Node, Relation
from headwater.project.thresholds import parse_threshold
from headwater.quality.checks import CheckContext, check_class

if TYPE_CHECKING:
    from headwater.quality.expectations.config import ExpectationConfig
    from headwater.quality.expectations.results import ExpectationResult

SAMPLE_ROWS = 5


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
    rows: int | None = None
    """Rows the check looked at (the denominator of percentage thresholds), when known."""
    quarantined: int | None = None
    """Rows moved to the model's quarantine table because of this check."""
    result: dict[str, Any] | None = None
    """For expectations: the Great Expectations-shaped validation result."""

    @property
    def blocks(self) -> bool:
        """True if the result stops publication (write-audit-publish)."""
        return self.status in ("fail", "error") and self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "unique_id": self.unique_id, "name": self.name, "check": self.check, "node": self.node,
            "column": self.column, "severity": self.severity, "status": self.status,
            "failures": self.failures, "message": self.message, "query": self.query,
            "sample": self.sample, "duration": round(self.duration, 4), "rows": self.rows,
            "quarantined": self.quarantined, "result": self.result,
        }  # fmt: skip


@dataclass
class _Planned:
    test: Node
    failing: str
    scan: str | None
    expectation: dict[str, Any] | None = None
    """The expectation's GX JSON config, for expectation checks."""
    denominator: str | None = None
    """Aggregate counting the rows the check looked at, when a percentage threshold needs it."""


class CheckRunner:
    """Evaluates test nodes; ``relation_sql(node)`` says where each checked node lives now
    (a staged relation during write-audit-publish)."""

    def __init__(
        self, engine: Engine, nodes: dict[str, Node], relation_sql: Callable[[str], str], audit_schema: str = "main",
        functions: Functions | None = None,
    ) -> None:  # fmt: skip
        self.engine = engine
        self.nodes = nodes
        self.relation_sql = relation_sql
        self.audit_schema = audit_schema
        """Prefix of the schema `store_failures` writes to (dbt: `<target schema>_dbt_test__audit`)."""
        self.functions: Functions = functions or (
            engine.functions if engine is not None else Functions()
        )
        """The engine's function map; DuckDB's spelling when there is no engine (`compile`)."""

    def run(self, tests: list[Node]) -> list[CheckResult]:
        results: list[CheckResult] = []
        planned: list[_Planned] = []
        for test in tests:
            if test.test is not None and test.test.kind == "unit":
                results.append(self._run_unit(test))
                continue
            try:
                planned.append(self.plan(test))
            except HeadwaterError as exc:
                results.append(self._result(test, "error", message=exc.message))
        groups: dict[str, list[_Planned]] = {}
        expectations: dict[str, list[_Planned]] = {}
        for p in planned:
            if p.expectation is not None:
                expectations.setdefault(self._attached_relation(p.test), []).append(p)
            elif p.scan is None:
                results.append(self._run_single(p))
            else:
                groups.setdefault(self._attached_relation(p.test), []).append(p)
        for relation in dict.fromkeys([*groups, *expectations]):
            if relation in expectations:
                results.extend(
                    self._run_expectations(
                        relation, expectations[relation], groups.get(relation, [])
                    )
                )
            else:
                results.extend(self._run_scan(relation, groups[relation]))
        order = {t.unique_id: i for i, t in enumerate(tests)}
        results.sort(key=lambda r: order.get(r.unique_id, 0))
        return results

    def _run_unit(self, test: Node) -> CheckResult:
        """A dbt unit test: the model's SQL on fixture rows against the expected rows."""
        from headwater.quality.unit_tests import run_unit_test

        started = time.perf_counter()
        try:
            outcome = run_unit_test(self.engine, test, self.nodes)
        except HeadwaterError as exc:
            return self._result(test, "error", message=exc.message)
        status = (
            "pass" if outcome.failures == 0 else ("fail" if test.severity == "error" else "warn")
        )
        result = self._result(test, status, failures=outcome.failures, message=outcome.message,
                              query=outcome.query, sample=outcome.sample)  # fmt: skip
        result.duration = time.perf_counter() - started
        return result

    # -- planning -------------------------------------------------------------------------
    def _attached_relation(self, test: Node) -> str:
        assert test.test is not None and test.test.attached_to is not None
        return self.relation_sql(test.test.attached_to)

    def plan(self, test: Node) -> _Planned:
        spec = test.test
        assert spec is not None
        if spec.kind in (
            "singular",
            "macro",
        ):  # a query of failing rows (a file, or a test macro's)
            sql = (test.compiled_sql or "").strip().rstrip(";")
            attached = self.nodes.get(spec.attached_to) if spec.attached_to else None
            if spec.kind == "macro" and attached is not None and attached.relation is not None:
                current, final = self.relation_sql(attached.unique_id), attached.relation.render()
                if current != final:  # auditing a staged relation before it is published
                    sql = sql.replace(final, current)
            return _Planned(test, sql, None)
        if spec.kind == "expectation":
            from headwater.quality.expectations import row_predicate

            config = spec.kwargs["expectation"]
            relation = self._attached_relation(test)
            try:
                predicate = row_predicate(_expectation(config), relation, functions=self.functions)
            except (
                HeadwaterError
            ):  # the validation reports it, GX-shaped (e.g. a regex the engine cannot read)
                predicate = None
            failing = f"SELECT * FROM {relation} WHERE {predicate}" if predicate else ""
            return _Planned(test, failing, None, expectation=config)
        cls = check_class(spec.name, node=test.name)
        kwargs = dict(spec.kwargs)
        column = kwargs.pop("column_name", None) or spec.column
        where = test.config.get("where")
        custom_calc = fail_calc(test) != "count(*)"
        ctx = CheckContext(
            relation=self._attached_relation(test),
            column=column,
            kwargs=kwargs,
            where=where,
            resolve=self._resolve,
            functions=self.functions,
        )
        check = cls()
        denominator = None
        if needs_denominator(test.config):
            denominator = f"count(*) FILTER (WHERE {where})" if where else "count(*)"
        # a custom `fail_calc` is computed over the failing rows, so such a check runs on its own
        return _Planned(
            test,
            check.failing(ctx),
            None if custom_calc else check.scan(ctx),
            denominator=denominator,
        )

    def row_predicate(self, test: Node) -> str | None:
        """SQL true for the rows of the checked relation that ``test`` finds bad (for quarantine),
        or None when the check is not about single rows."""
        spec = test.test
        assert spec is not None
        relation = self._attached_relation(test)
        if spec.kind == "expectation":
            from headwater.quality.expectations import row_predicate

            return row_predicate(
                _expectation(spec.kwargs["expectation"]), relation, functions=self.functions
            )
        if spec.kind in ("singular", "macro", "unit"):
            return None
        cls = check_class(spec.name, node=test.name)
        kwargs = dict(spec.kwargs)
        column = kwargs.pop("column_name", None) or spec.column
        ctx = CheckContext(relation=relation, column=column, kwargs=kwargs, where=test.config.get("where"),
                           resolve=self._resolve, functions=self.functions)  # fmt: skip
        return cls().row_predicate(ctx)

    def _resolve(self, value: Any) -> str:
        if isinstance(value, dict) and "__relation__" in value:
            return self.relation_sql(value["__relation__"])
        raise ConfigError(f"expected ref('...') or source('...', '...'), got `{value}`")

    # -- running --------------------------------------------------------------------------
    @staticmethod
    def _scan_exprs(group: list[_Planned]) -> tuple[list[str], dict[str, int]]:
        """The scan expressions of ``group`` followed by the distinct denominators they need."""
        exprs = [p.scan for p in group if p.scan is not None]
        denominators: dict[str, int] = {}
        for p in group:
            if p.denominator is not None and p.denominator not in denominators:
                denominators[p.denominator] = len(exprs) + len(denominators)
        return exprs + list(denominators), denominators

    def _run_scan(self, relation: str, group: list[_Planned]) -> list[CheckResult]:
        started = time.perf_counter()
        exprs, denominators = self._scan_exprs(group)
        selected = ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs))
        try:
            row = self.engine.execute(f"SELECT {selected} FROM {relation} AS t")[0]
        except HeadwaterError:
            return [self._run_single(p) for p in group]  # find which check is broken
        return self._scan_results(
            group, list(row), denominators, (time.perf_counter() - started) / len(group)
        )

    def _scan_results(
        self, group: list[_Planned], values: list[Any], denominators: dict[str, int], elapsed: float
    ) -> list[CheckResult]:
        out = []
        for i, p in enumerate(group):
            rows = int(values[denominators[p.denominator]]) if p.denominator is not None else None
            if values[i]:
                out.append(self._run_single(p, rows))
            else:
                result = self._finish(p.test, 0, p.failing, elapsed, rows)
                self._store_failures(p, result)
                out.append(result)
        return out

    def _run_expectations(
        self, relation: str, planned: list[_Planned], checks: list[_Planned]
    ) -> list[CheckResult]:
        """Expectations of one relation and its scan-able dbt checks, in one validation pass."""
        from headwater.quality.expectations import validate_relation
        from headwater.quality.expectations.evaluate import engine_columns, relation_of

        started = time.perf_counter()
        exprs, denominators = self._scan_exprs(checks)
        try:
            named = relation_of(relation)
            suite = validate_relation(
                self.engine.query,
                relation,
                [_expectation(p.expectation) for p in planned if p.expectation is not None],
                extra_scan=exprs,
                resolve_table=self._resolve_table,
                functions=self.functions,
                describe_columns=engine_columns(self.engine),
                relation_kind=self.engine.relation_kind(named) if named is not None else None,
            )
        except HeadwaterError as exc:
            return [self._result(p.test, "error", message=exc.message) for p in planned] + [
                self._run_single(p) for p in checks
            ]
        elapsed = (time.perf_counter() - started) / max(1, len(planned) + len(checks))
        out = [
            self._expectation_result(p, r, elapsed)
            for p, r in zip(planned, suite.results, strict=True)
        ]
        if checks:
            out.extend(self._scan_results(checks, list(suite.extra_values), denominators, elapsed))
        return out

    def _expectation_result(
        self, p: _Planned, outcome: ExpectationResult, elapsed: float
    ) -> CheckResult:
        data = outcome.to_json_dict()
        res = data.get("result") or {}
        if outcome.outcome == "error":
            info = data.get("exception_info") or {}
            result = self._result(
                p.test, "error", message=str(info.get("exception_message") or "could not evaluate")
            )
        else:
            failures = (
                outcome.unexpected_count
                if outcome.unexpected_count is not None
                else int(not outcome.success)
            )
            status = (
                "pass" if outcome.success else ("fail" if p.test.severity == "error" else "warn")
            )
            result = self._result(
                p.test,
                status,
                failures=int(failures or 0),
                message=_expectation_message(res, outcome),
            )
            result.sample = _expectation_sample(res)
        result.query = p.failing
        result.rows = outcome.element_count
        result.result = data
        result.duration = elapsed
        return result

    def _resolve_table(self, name: str) -> str:
        for node in self.nodes.values():
            if node.relation is not None and name in (
                node.name,
                node.display_name,
                node.relation.render(quote=False),
            ):
                return self.relation_sql(node.unique_id)
        return name

    def _run_single(self, p: _Planned, rows: int | None = None) -> CheckResult:
        started = time.perf_counter()
        limit = p.test.config.get("limit")
        try:
            counted = (
                f"SELECT * FROM (\n{p.failing}\n) AS f LIMIT {int(limit)}"
                if limit is not None
                else p.failing
            )
            calc = fail_calc(p.test)
            count = (
                self.engine.execute(f"SELECT {calc} FROM (\n{counted}\n) AS dbt_internal_test")[0][
                    0
                ]
                or 0
            )
            sample: list[dict[str, Any]] = []
            if count:
                sample = self._sample(p.failing)
            if rows is None and p.denominator is not None:
                relation = self._attached_relation(p.test)
                rows = int(
                    self.engine.execute(f"SELECT {p.denominator} FROM {relation} AS t")[0][0]
                )
        except HeadwaterError as exc:
            return self._result(p.test, "error", message=exc.message, query=p.failing)
        result = self._finish(p.test, int(count), p.failing, time.perf_counter() - started, rows)
        result.sample = sample
        if sample and result.status != "pass":
            result.message += ", e.g. " + sample_text(sample)
        self._store_failures(p, result)
        return result

    def _store_failures(self, p: _Planned, result: CheckResult) -> None:
        """dbt's `store_failures`: keep this run's failing rows in `<schema>_dbt_test__audit.<test>`."""
        config = p.test.config
        if (
            not config.get("store_failures")
            or config.get("store_failures_as") == "ephemeral"
            or not p.failing
        ):
            return
        schema = str(config.get("schema") or f"{self.audit_schema}_dbt_test__audit")
        name = str(config.get("alias") or p.test.name)
        limit = config.get("limit")
        body = f"SELECT * FROM (\n{p.failing}\n) AS f" + (
            f" LIMIT {int(limit)}" if limit is not None else ""
        )
        relation, statements = Relation(schema, name), self.engine.statements
        try:
            self.engine.ensure_schema(schema)
            # plain statements: the audit may run inside the build's transaction (no BEGIN here)
            if self.engine.SUPPORTS_CREATE_OR_REPLACE_TABLE:
                self.engine.execute(statements.create_as(relation, body, "table", replace=True))
            else:
                self.engine.execute(statements.drop(relation, "table"))
                self.engine.execute(statements.create_as(relation, body, "table"))
        except HeadwaterError as exc:
            result.message += f" (storing failures in {schema}.{name} failed: {exc.message})"
            return
        if result.status != "pass":
            result.message += f"; failing rows stored in {schema}.{name}"

    def _sample(self, failing: str) -> list[dict[str, Any]]:
        names, rows = self.engine.query(
            f"SELECT * FROM (\n{failing}\n) AS failing LIMIT {SAMPLE_ROWS}"
        )
        return [{n: _jsonable(v) for n, v in zip(names, r, strict=True)} for r in rows]

    def _finish(
        self, test: Node, failures: int, query: str, duration: float, rows: int | None = None
    ) -> CheckResult:
        limit = test.config.get("limit")
        if limit is not None:
            failures = min(failures, int(limit))
        status = evaluate_status(failures, test.config, rows)
        unit = "failing rows"
        if test.test and test.test.kind == "generic":
            unit = check_class(test.test.name).unit
        message = "" if status == "pass" else f"{failures:,} {unit}"
        if message and rows:
            message += f" ({_percent(failures, rows)} of {rows:,} rows)"
        result = self._result(test, status, failures=failures, message=message, query=query)
        result.duration = duration
        result.rows = rows
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


def fail_calc(test: Node) -> str:
    """dbt's `fail_calc`: the aggregate over a test's failing rows that counts its failures."""
    value = str(test.config.get("fail_calc") or "count(*)").strip()
    if value.lower().replace(" ", "") == "count(*)":
        return "count(*)"
    from headwater.sql.safety import check_expression

    check_expression(value, what=f"`fail_calc` of `{test.name}`", location=None, node=test.name)
    return value


def evaluate_status(failures: int, config: dict[str, Any], rows: int | None = None) -> str:
    """dbt's rules: error severity fails on `error_if`, else warns on `warn_if`.

    A threshold may be a percentage (`">1%"`): the failures as a percent of ``rows``, the rows
    the check looked at (after `where`). With no rows, a percentage is 0.
    """
    severity = str(config.get("severity", "error")).lower()
    error_if = parse_threshold(config.get("error_if", "!=0"))
    warn_if = parse_threshold(config.get("warn_if", "!=0"))
    if severity == "error" and error_if(failures, rows):
        return "fail"
    if warn_if(failures, rows):
        return "warn"
    return "pass"


def needs_denominator(config: dict[str, Any]) -> bool:
    """True if `warn_if` or `error_if` is a percentage."""
    return any(str(config.get(key, "")).strip().endswith("%") for key in ("warn_if", "error_if"))


def _percent(part: int, whole: int) -> str:
    value = 100.0 * part / whole
    return f"{value:.2g}%" if value < 1 else f"{value:.1f}%"


def _expectation(config: dict[str, Any]) -> ExpectationConfig:
    from headwater.quality.expectations import ExpectationConfig

    return ExpectationConfig(
        type=config["type"],
        kwargs=dict(config.get("kwargs") or {}),
        meta=dict(config.get("meta") or {}),
        severity=config.get("severity", "critical"),
        id=config.get("id"),
        notes=config.get("notes"),
    )


def _expectation_message(res: dict[str, Any], outcome: ExpectationResult) -> str:
    if outcome.success:
        return ""
    if outcome.unexpected_count is not None:
        text = f"{outcome.unexpected_count:,} unexpected values"
        if res.get("unexpected_percent") is not None:
            text += f" ({res['unexpected_percent']:.3g}% of non-null)"
        values = res.get("partial_unexpected_list") or []
        if values:
            shown = ", ".join(repr(v) for v in values[:5])
            text += f", e.g. {shown}"
        return text
    if "observed_value" in res:
        text = f"observed {res['observed_value']!r}"
        kwargs = (outcome.config.kwargs if hasattr(outcome, "config") else {}) or {}
        lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
        if lo is not None or hi is not None:
            text += ", expected " + (
                f"between {lo} and {hi}"
                if lo is not None and hi is not None
                else (f">= {lo}" if lo is not None else f"<= {hi}")
            )
        elif "value" in kwargs:
            text += f", expected {kwargs['value']!r}"
        return text
    return "expectation not met"


def _expectation_sample(res: dict[str, Any]) -> list[dict[str, Any]]:
    counts = res.get("partial_unexpected_counts")
    if counts:
        return [
            {"value": _jsonable(c.get("value")), "count": c.get("count")}
            for c in counts[:SAMPLE_ROWS]
        ]
    return [
        {"value": _jsonable(v)} for v in (res.get("partial_unexpected_list") or [])[:SAMPLE_ROWS]
    ]


def sample_text(sample: list[dict[str, Any]], n: int = 3) -> str:
    """`unique_field=7 (n_records=2); ...` from the first sampled rows, kept short."""
    parts = []
    for row in sample[:n]:
        items = list(row.items())[:3]
        parts.append(
            ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in items)
        )
    text = "; ".join(f"({p})" for p in parts)
    return text if len(text) < 200 else text[:197] + "..."


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
