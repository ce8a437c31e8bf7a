"""Model contracts (dbt's `contract: {enforced: true}`): the built relation must have exactly the
declared columns and types, and satisfy the declared constraints, before it is published.

Types are compared after the engine normalizes both sides (`int` and `INTEGER`, `numeric(10,2)`
and `DECIMAL(10,2)` are the same), so a contract can be written with any spelling the engine
accepts. Constraints are evaluated in one scan of the staged relation.

How a declared type is normalized is the engine's: DuckDB names the type of
``CAST(NULL AS <type>)`` (`typeof`); PostgreSQL (any other engine) creates an empty temporary
table with the declared types and reads them back from its catalog, spelled as
`format_type(atttypid, atttypmod)` — the spelling `Engine.columns` gives the model's relation, with
modifiers (`numeric(10,2)`, `character varying(20)`), so `int` matches `integer` and `varchar`
matches `character varying`, while `text` and `varchar` stay different types there (they are one
type on DuckDB).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from headwater.engines.base import Engine, quote_identifier
from headwater.engines.functions import Functions
from headwater.errors import ExecutionError, HeadwaterError
from headwater.project.definition import Node, Relation


class ContractError(ExecutionError):
    """The built relation breaks its model's contract; it is not published."""


@dataclass
class Violation:
    what: str
    count: int


def contract_enforced(node: Node) -> bool:
    contract = node.config.get("contract")
    return isinstance(contract, dict) and bool(contract.get("enforced"))


def enforce_contract(engine: Engine, node: Node, staged: Relation) -> None:
    """Raise `ContractError` with a column diff or the broken constraints of ``staged``."""
    declared = {name: col.data_type for name, col in node.columns.items()}
    missing_types = [name for name, dtype in declared.items() if not dtype]
    if not declared or missing_types:
        raise ContractError(
            f"model `{node.name}` enforces a contract but "
            + (
                "declares no columns"
                if not declared
                else f"gives no `data_type` for {_names(missing_types)}"
            ),
            node=node.name,
            hint="list every column with its `data_type:` in the model's .yml, or set contract: {enforced: false}",
        )
    actual = engine.columns(staged)
    diff = _column_diff(engine, declared, actual)
    if diff:
        raise ContractError(
            f"model `{node.name}` does not match its contract; not published:\n" + "\n".join(diff),
            node=node.name,
            hint="change the model's SELECT or the contract in its .yml so that they agree",
        )
    broken = _constraint_violations(engine, node, staged)
    if broken:
        lines = [f"  {v.what}: {v.count:,} rows" for v in broken]
        raise ContractError(
            f"model `{node.name}` breaks its contract's constraints; not published:\n"
            + "\n".join(lines),
            node=node.name,
        )


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _column_diff(
    engine: Engine, declared: dict[str, str | None], actual: list[tuple[str, str]]
) -> list[str]:
    have = {name.lower(): (name, dtype) for name, dtype in actual}
    want = {name.lower(): (name, str(dtype)) for name, dtype in declared.items()}
    canonical = _canonical_types(engine, [dtype for _, dtype in want.values()])
    lines = []
    for key, (name, dtype) in want.items():
        if key not in have:
            lines.append(f"  missing column `{name}` ({dtype})")
        elif canonical.get(dtype, dtype.upper()) != have[key][1].upper():
            lines.append(
                f"  `{name}`: contract says {dtype} ({canonical.get(dtype, dtype)}), the model returns {have[key][1]}"
            )
    for key, (name, dtype) in have.items():
        if key not in want:
            lines.append(f"  extra column `{name}` ({dtype}) is not in the contract")
    return lines


def _canonical_types(engine: Engine, types: list[str]) -> dict[str, str]:
    """Declared type -> the engine's own name for it, upper-cased (one query for all of them)."""
    unique = list(dict.fromkeys(types))
    if not unique:
        return {}
    if engine.NAME != "duckdb":
        return _catalog_types(engine, unique)
    try:
        row = engine.execute("SELECT " + ", ".join(f"typeof(CAST(NULL AS {t}))" for t in unique))[0]
        return {t: str(v).upper() for t, v in zip(unique, row, strict=True)}
    except HeadwaterError:  # one of them is not a type: find which, for the message
        out = {}
        for t in unique:
            try:
                out[t] = str(engine.execute(f"SELECT typeof(CAST(NULL AS {t}))")[0][0]).upper()
            except HeadwaterError as exc:
                raise ContractError(
                    f"`{t}` in the contract is not a type the engine knows: {exc.message}"
                ) from None
        return out


def _catalog_types(engine: Engine, types: list[str]) -> dict[str, str]:
    """The declared types as the engine's catalog spells a column of each: an empty temporary
    table ``CREATE TEMPORARY TABLE ... AS SELECT CAST(NULL AS <type>) AS c0, ...`` read back with
    `Engine.columns` and dropped. One statement holds every type, so a wrong one fails once (the
    engine's message names it), also inside a transaction, which that failure ends."""
    from headwater.project.definition import Relation

    name = f"__hw_contract_{uuid.uuid4().hex[:12]}"
    select = "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS c{i}" for i, t in enumerate(types))
    try:
        engine.execute(
            engine.statements.create_as(Relation("", name), select, "table", temporary=True)
        )
    except HeadwaterError as exc:
        raise ContractError(
            f"a type in the contract is not a type the {engine.NAME} engine knows: {exc.message}",
            hint="declared: " + ", ".join(types),
        ) from None
    temp = Relation("", name)  # found first on the session's search path
    try:
        columns = engine.columns(temp)
    finally:
        engine.execute(engine.statements.drop(temp, "table"))
    return {t: str(dtype).upper() for t, (_, dtype) in zip(types, columns, strict=True)}


def _constraint_violations(engine: Engine, node: Node, staged: Relation) -> list[Violation]:
    exprs: list[tuple[str, str]] = []
    for col in node.columns.values():
        for c in col.constraints:
            exprs.extend(_constraint_exprs(c, [col.name], engine.functions))
    for c in node.config.get("constraints") or []:
        exprs.extend(
            _constraint_exprs(c, [str(x) for x in c.get("columns") or []], engine.functions)
        )
    if not exprs:
        return []
    row = engine.execute(
        "SELECT "
        + ", ".join(f"{e} AS c{i}" for i, (_, e) in enumerate(exprs))
        + f" FROM {staged.render()}"
    )[0]
    return [Violation(what, int(n)) for (what, _), n in zip(exprs, row, strict=True) if n]


def _constraint_exprs(
    constraint: dict[str, Any], columns: list[str], functions: Functions
) -> list[tuple[str, str]]:
    kind = constraint.get("type")
    cols = [quote_identifier(c) for c in columns]
    out = []
    if kind in ("not_null", "primary_key"):
        for name, col in zip(columns, cols, strict=True):
            out.append((f"not_null on `{name}`", f"count(*) FILTER (WHERE {col} IS NULL)"))
    if kind in ("unique", "primary_key"):
        key = functions.row_tuple(cols)
        label = ", ".join(columns)
        out.append(
            (f"{kind} on `{label}` (duplicate rows)", f"count({key}) - count(DISTINCT {key})")
        )
    if kind == "check":
        expression = str(constraint["expression"])
        out.append((f"check `{expression}`", f"count(*) FILTER (WHERE NOT ({expression}))"))
    return out
