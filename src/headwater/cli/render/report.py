"""Rendering results for people (summaries, tables) and machines (JSON, CSV): run and demo
summaries, backfills, interval ledgers, node lists, compiled SQL, query rows."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from headwater.project.definition import Node

if TYPE_CHECKING:
    from headwater.cli.render.console import PlainConsole
    from headwater.runner.backfill import BackfillResult
    from headwater.runner.events import RunResult
    from headwater.state.records import Interval


def node_json(node: Node) -> dict[str, Any]:
    """The `ls --json` shape of a node."""
    return {
        "unique_id": node.unique_id,
        "name": node.name,
        "resource_type": node.resource_type,
        "materialized": node.materialized,
        "relation": node.relation.render(quote=False)
        if node.relation and node.materialized != "ephemeral"
        else None,
        "depends_on": list(node.depends_on),
        "path": node.path,
        "tags": node.tags,
        "description": node.description,
        "fqn": node.fqn,
        "source_name": node.source_name,
        "config": {k: v for k, v in node.config.items() if _jsonable(v)},
        "columns": {
            c.name: {"description": c.description, "data_type": c.data_type}
            for c in node.columns.values()
        },
        "test": (
            {
                "name": node.test.name,
                "column": node.test.column,
                "attached_to": node.test.attached_to,
                "severity": node.severity,
            }
            if node.test
            else None
        ),
    }


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False


def print_rows(
    names: list[str], rows: list[tuple[Any, ...]], fmt: str, stream: IO[str] | None = None
) -> None:
    """Rows as a table (rich on a terminal, aligned text otherwise), CSV or JSON."""
    stream = stream or sys.stdout
    if fmt == "json":
        data = [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in rows]
        stream.write(json.dumps(data, indent=2, default=str) + "\n")
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
    elif stream.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*names, show_lines=False)
        for row in rows:
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        Console().print(table)
        print(f"({len(rows)} {'row' if len(rows) == 1 else 'rows'})", file=stream)
    else:
        widths = [len(n) for n in names]
        text = [["NULL" if v is None else str(v) for v in row] for row in rows]
        for cells in text:
            widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]
        stream.write(" | ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)) + "\n")
        stream.write("-+-".join("-" * w for w in widths) + "\n")
        for cells in text:
            stream.write(" | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "\n")
        stream.write(f"({len(rows)} {'row' if len(rows) == 1 else 'rows'})\n")


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def print_run_summary(console: PlainConsole, result: RunResult) -> None:
    s = result.summary()
    nodes = ", ".join(f"{n} {k}" for k, n in sorted(s["nodes"].items())) or "nothing to do"
    line = f"Done in {result.elapsed:.2f}s: {nodes}"
    if s["checks"]:
        line += "; checks: " + ", ".join(f"{n} {k}" for k, n in sorted(s["checks"].items()))
    rejected = [r for r in result.results if getattr(r, "rejected", None)]
    if rejected:
        line += f"; {sum(r.rejected or 0 for r in rejected):,} records rejected"
    console.print("")
    console.print(line)
    for r in result.results:  # built, with something to know: rejected records, a failed checkpoint
        if r.status == "warn" and r.message:
            console.print(f"  WARN {r.relation or r.name}: {r.message.splitlines()[0]}")
    failed = [r for r in result.results if r.failed]
    for r in failed:
        console.print(
            f"  {r.status.upper()} {r.name}: {r.message.splitlines()[0] if r.message else ''}"
        )
    if failed:
        console.print(
            f"Details: {result.log_path}; rerun the failed nodes with `headwater {result.command} -s <name>`"
        )


def print_demo_summary(console: PlainConsole, result: RunResult, root: Path) -> None:
    console.print("")
    built = [
        r for r in result.results
        if r.resource_type in ("model", "source", "seed", "snapshot") and r.status in ("success", "warn")
    ]  # fmt: skip
    console.print(f"Built {len(built)} tables and views in {result.elapsed:.1f}s:")
    for r in built:
        rows = f"{r.rows:>12,} rows" if r.rows is not None else f"{'(view)':>17}"
        console.print(f"  {r.relation or r.name:<36} {rows}")
    checks = result.checks
    passed = sum(c.status == "pass" for c in checks)
    warned = [c for c in checks if c.status == "warn"]
    failed = [c for c in checks if c.status in ("fail", "error")]
    console.print("")
    quarantined = sum(c.quarantined or 0 for c in checks)
    line = f"Checks: {passed} passed, {len(warned)} warned, {len(failed)} failed"
    if quarantined:
        line += f"; {quarantined:,} bad rows quarantined"
    console.print(line)
    for c in warned + failed:
        where = f"{c.node}.{c.column}" if c.column else (c.node or "")
        console.print(
            f"  {c.status.upper():<5} {c.name}"
            + (f" [{where}]" if where else "")
            + f": {c.message}"
        )
    not_ok = [r for r in result.results if r.failed]
    for r in not_ok:
        console.print(f"  {r.status.upper():<5} {r.name}: {r.message}")
    console.print("")
    console.print(f"Warehouse: {result.warehouse}")
    console.print("Next:")
    console.print(f"  cd {root}")
    from headwater.scaffold import DEMO_NEXT_COMMANDS

    for command in DEMO_NEXT_COMMANDS:
        console.print(f"  {command}")


def print_backfill_summary(console: PlainConsole, result: BackfillResult) -> None:
    """`headwater backfill`: the plan's summary and the models left out."""
    console.print(result.summary())
    if result.skipped_models:
        console.print("not time-partitioned, left out: " + ", ".join(result.skipped_models))


def print_intervals(name: str, rows: list[Interval]) -> None:
    """`headwater intervals MODEL`: the ledger as a table and a count line."""
    if not rows:
        print(f"{name}: no intervals recorded yet (is it a microbatch model that has run?)")
        return
    import datetime as dt

    table = [
        (r.interval_start, r.interval_end, r.status, r.rows,
         dt.datetime.fromtimestamp(r.built_at or 0, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
         f"{(r.duration or 0) * 1000:.0f} ms", (r.invocation_id or "")[:8])
        for r in rows
    ]  # fmt: skip
    print_rows(["start", "end", "status", "rows", "built_at (UTC)", "took", "run"], table, "table")
    bad = sum(r.status != "success" for r in rows)
    print(f"{name}: {len(rows)} intervals, {len(rows) - bad} built, {bad} failed")


def print_nodes(nodes: list[Node], as_json: bool) -> None:
    """`headwater ls`: one line per node, or a JSON array of `node_json`."""
    if as_json:
        print(json.dumps([node_json(n) for n in nodes], indent=2))
        return
    for node in nodes:
        print(f"{node.resource_type:<8} {node.display_name}")


def print_compiled(nodes: list[Node], compiled_dir: Path, print_sql: bool, as_json: bool) -> None:
    """`headwater compile`: where the SQL went (and the SQL with ``print_sql``), or JSON."""
    if as_json:
        print(
            json.dumps(
                [
                    {"unique_id": n.unique_id, "name": n.name, "compiled_sql": n.compiled_sql}
                    for n in nodes
                ],
                indent=2,
            )
        )
        return
    for node in nodes:
        if print_sql:
            print(f"-- {node.unique_id}\n{(node.compiled_sql or '').strip()}\n")
    print(
        f"compiled {len(nodes)} nodes into {compiled_dir}",
        file=sys.stderr if print_sql else sys.stdout,
    )
