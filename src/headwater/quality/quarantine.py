"""Quarantine: rows that fail error-level row checks marked `on_failure: quarantine` are moved
out of the staged relation into `<model>__quarantine` before the checks run, so the good rows are
published and the bad ones are kept — with the names of the checks they failed, the reasons and
the run id — instead of blocking the whole table.

Both tables are published together (one transaction); a model whose bad rows exceed its
`max_quarantined` (a count, or a percentage of the built rows such as `"5%"`) is not published.

The split is two statements on the engine: CREATE the quarantine table from the failing rows
(`count(*) FILTER`, `concat_ws`, `now()` and CASE are spelled alike on DuckDB and PostgreSQL:
`now()` is the transaction's start, a timestamp with time zone, on both), then
`statements.delete_where` on the staged table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from headwater.engines.base import Engine, quote_literal
from headwater.errors import ConfigError, ExecutionError
from headwater.project.definition import Node, Relation

QUARANTINE_SUFFIX = "__quarantine"


class QuarantineOverflow(ExecutionError):
    """More rows failed than `max_quarantined` allows: the model is not published."""


@dataclass
class QuarantineResult:
    relation: Relation
    staged: Relation
    total: int = 0
    by_check: dict[str, int] = field(default_factory=dict)


def quarantine_tests(tests: list[Node]) -> list[Node]:
    """The error-level checks of a unit that quarantine their failing rows."""
    return [
        t
        for t in tests
        if str(t.config.get("on_failure", "")).lower() == "quarantine" and t.severity == "error"
    ]


def quarantine_relation(relation: Relation) -> Relation:
    return Relation(relation.schema, relation.identifier + QUARANTINE_SUFFIX, relation.database)


def apply_quarantine(
    engine: Engine,
    node: Node,
    staged: Relation,
    tests: list[Node],
    predicate_of: Callable[[Node], str | None],
    invocation_id: str,
    built_rows: int | None,
) -> QuarantineResult:
    """Move the rows of ``staged`` that fail ``tests`` into a staged quarantine table."""
    if node.materialized not in ("table", "incremental"):
        raise ConfigError(
            f"`on_failure: quarantine` on `{node.name}` needs a table (it is a {node.materialized})",
            node=node.name,
            hint="set `materialized: table` on the model, or drop `on_failure: quarantine`",
        )
    predicates: list[tuple[Node, str]] = []
    for test in tests:
        pred = predicate_of(test)
        if pred is None:
            raise ConfigError(
                f"`{test.name}` cannot quarantine rows: it judges the table as a whole, not single rows",
                node=test.name,
                hint="remove `on_failure: quarantine` from it",
            )
        predicates.append((test, f"coalesce(({pred}), false)"))
    target = quarantine_relation(node.relation)  # type: ignore[arg-type]  # a built model has one
    q_staged = engine.staging_relation(target)
    any_bad = " OR ".join(p for _, p in predicates)
    names = ", ".join(f"CASE WHEN {p} THEN {quote_literal(t.name)} END" for t, p in predicates)
    reasons = ", ".join(
        f"CASE WHEN {p} THEN {quote_literal(_reason(t))} END" for t, p in predicates
    )
    counts = ", ".join(f"count(*) FILTER (WHERE {p})" for _, p in predicates)
    engine.create_or_replace(
        q_staged,
        f"SELECT *, concat_ws(', ', {names}) AS _hw_failed_checks, concat_ws('; ', {reasons}) AS _hw_reasons, "
        f"{quote_literal(invocation_id)} AS _hw_invocation_id, now() AS _hw_quarantined_at "
        f"FROM {staged.render()} WHERE {any_bad}",
        "table",
    )
    values = engine.execute(
        f"SELECT count(*) FILTER (WHERE {any_bad}), {counts} FROM {staged.render()}"
    )[0]
    result = QuarantineResult(relation=target, staged=q_staged, total=int(values[0]))
    result.by_check = {
        t.unique_id: int(n) for (t, _), n in zip(predicates, values[1:], strict=True)
    }
    limit = node.config.get("max_quarantined")
    if limit is not None and _over(result.total, built_rows, limit):
        engine.drop(q_staged)
        raise QuarantineOverflow(
            f"{result.total:,} rows of `{node.name}` failed checks, more than max_quarantined ({limit}); not published",
            node=node.name,
            hint="inspect the failing checks' queries; raise max_quarantined if this is expected",
        )
    if result.total:
        engine.execute(engine.statements.delete_where(staged, any_bad))
    return result


def sample_sql(engine: Engine, table: Relation, check: str, n: int = 5) -> str:
    """A few rows of the quarantine table ``table`` that failed ``check``, without the meta
    columns but the reasons, in the engine's dialect (the names in `_hw_failed_checks` are
    joined by ``", "``)."""
    columns = [name for name, _ in engine.columns(table)]
    hidden: list[str] = [
        c for c in ("_hw_failed_checks", "_hw_invocation_id", "_hw_quarantined_at") if c in columns
    ]
    projection = engine.functions.select_except(hidden, columns)
    listed = "', ' || _hw_failed_checks || ', '"
    wanted = quote_literal(f", {check}, ")
    return f"SELECT {projection} FROM {table.render()} WHERE strpos({listed}, {wanted}) > 0 LIMIT {int(n)}"


def _reason(test: Node) -> str:
    spec = test.test
    if spec is None:
        return test.name
    column = f"`{spec.column}` " if spec.column else ""
    return f"{column}failed {spec.name}"


def _over(count: int, rows: int | None, limit: object) -> bool:
    text = str(limit).strip()
    try:
        if text.endswith("%"):
            if not rows:
                return False
            return 100.0 * count / rows > float(text[:-1])
        return count > int(float(text))
    except ValueError:
        raise ConfigError(
            f"cannot read max_quarantined `{limit}`",
            hint='write a row count (`100`) or a percentage (`"5%"`)',
        ) from None
