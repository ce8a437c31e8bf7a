"""`headwater lineage NODE [--column C] [--upstream|--downstream] [--depth N] [--json]`: the
table- and column-level lineage of `headwater.observe.lineage` as rich trees or JSON."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.observe.lineage import ColumnLineage, Columns, ProjectLineage, relation_key

if TYPE_CHECKING:
    from headwater.project.definition import Node, Relation


# -- the command ---------------------------------------------------------------------------------------
def add_commands(sub: Any, common: Any) -> dict[str, Any]:
    p = sub.add_parser(
        "lineage",
        help="show table- or column-level lineage of a node",
        description="Upstream (default) or downstream lineage of a node; with --column, of one of its columns.",
    )
    p.add_argument(
        "node", help="model, seed, snapshot or source (`source_name.table`), by name or unique_id"
    )
    p.add_argument("--column", "-c", help="a column of the node: show column-level lineage")
    direction = p.add_mutually_exclusive_group()
    direction.add_argument(
        "--upstream", dest="downstream", action="store_false", help="what it is made from (default)"
    )
    direction.add_argument(
        "--downstream", dest="downstream", action="store_true", help="what is made from it"
    )
    p.set_defaults(downstream=False)
    p.add_argument("--depth", type=int, default=None, help="levels to show (default: all)")
    p.add_argument("--json", action="store_true", help="print the tree as JSON")
    common(p)
    return {"lineage": cmd_lineage}


def cmd_lineage(args: argparse.Namespace) -> int:
    from headwater.cli import context_for
    from headwater.errors import UsageError

    if args.depth is not None and args.depth < 1:
        raise UsageError("--depth must be 1 or more", hint="e.g. --depth 2")
    with context_for(args) as ctx:
        nodes = {
            uid: n
            for uid, n in ctx.manifest.nodes.items()
            if n.resource_type not in ("test", "analysis")
        }
        node = find_node(nodes, args.node)
        warehouse = _ReadOnlyWarehouse.open(ctx)
        try:
            from headwater.engines import engine_dialect

            index = ProjectLineage(
                nodes,
                warehouse.columns if warehouse else None,
                ctx.root,
                ctx.manifest.config.raw_data,
                dialect=engine_dialect(ctx.manifest.target.engine),
            )
            if args.column:
                column = find_column(index, node, args.column)
                tree = column_tree(index, node.unique_id, column, args.downstream, args.depth)
            else:
                tree = table_tree(index, node.unique_id, args.downstream, args.depth)
        finally:
            if warehouse:
                warehouse.close()
        direction = "downstream" if args.downstream else "upstream"
        if args.json:
            doc = {
                "node": node.unique_id,
                "column": args.column and tree["column"],
                "direction": direction,
                "tree": tree,
            }
            print(json.dumps(doc, indent=2))
        else:
            print_tree(tree, bool(args.column))
        return 0


def find_node(nodes: dict[str, Node], text: str) -> Node:
    """A node by unique_id, name, `source.table` or relation name; `UsageError` (exit 2) with
    did-you-mean otherwise."""
    from headwater.errors import UsageError, did_you_mean

    if text in nodes:
        return nodes[text]
    lowered = text.lower()
    by_name: dict[str, list[Node]] = {}
    for node in nodes.values():
        for name in {
            node.display_name,
            node.name if node.resource_type != "source" else node.display_name,
        }:
            by_name.setdefault(name.lower(), []).append(node)
        if node.relation is not None:
            by_name.setdefault(relation_key(node.relation), []).append(node)
    found = list({id(n): n for n in by_name.get(lowered, [])}.values())
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        names = ", ".join(f"`{n.unique_id}`" for n in found)
        raise UsageError(f"`{text}` names several nodes: {names}", hint="pass the unique_id")
    names = sorted({n.display_name for n in nodes.values()})
    raise UsageError(
        f"no model, seed, snapshot or source named `{text}`" + did_you_mean(text, names),
        hint="see `headwater ls`",
    )


def find_column(index: ProjectLineage, node: Node, column: str) -> str:
    from headwater.errors import UsageError, did_you_mean

    names = [c for c, _ in index.schema(node.unique_id) or []]
    for name in names:
        if name.lower() == column.lower():
            return name
    if not names:
        raise UsageError(
            f"the columns of `{node.display_name}` are not known",
            hint="build it first (`headwater build -s "
            + node.name
            + "`) or declare its columns in a .yml file",
        )
    raise UsageError(
        f"`{node.display_name}` has no column `{column}`" + did_you_mean(column, names),
        hint="its columns: " + ", ".join(names[:30]) + (" ..." if len(names) > 30 else ""),
    )


def _label(index: ProjectLineage, uid: str) -> dict[str, Any]:
    node = index.nodes.get(uid)
    if node is None:  # a relation that is no node of the project
        return {
            "unique_id": None,
            "name": uid,
            "resource_type": "relation",
            "materialized": None,
            "relation": uid,
        }
    return {
        "unique_id": uid, "name": node.display_name, "resource_type": node.resource_type,
        "materialized": node.materialized,
        "relation": node.relation.render(quote=False) if node.relation and node.materialized != "ephemeral" else None,
    }  # fmt: skip


def table_tree(
    index: ProjectLineage, uid: str, downstream: bool = False, depth: int | None = None
) -> dict[str, Any]:
    """Nested dict of the upstream (parents to the sources) or downstream (children to the
    leaves) nodes; a node met again is marked ``repeated`` and not expanded twice."""
    children_of: dict[str, list[str]] = {}
    if downstream:
        for other in index.nodes:
            for parent in index.parents(other):
                children_of.setdefault(parent, []).append(other)
    expanded: set[str] = set()

    def build(cur: str, level: int) -> dict[str, Any]:
        out = _label(index, cur)
        nxt = children_of.get(cur, []) if downstream else index.parents(cur)
        out["children"] = []
        if cur in expanded and nxt:
            out["repeated"] = True
            return out
        expanded.add(cur)
        if depth is not None and level >= depth:
            out["truncated"] = bool(nxt)
            return out
        out["children"] = [
            build(n, level + 1) for n in sorted(nxt, key=lambda u: index.nodes[u].display_name)
        ]
        return out

    return build(uid, 0)


def column_tree(
    index: ProjectLineage, uid: str, column: str, downstream: bool = False, depth: int | None = None
) -> dict[str, Any]:
    """Nested dict of the columns feeding ``column`` (to source columns), or of the columns of
    downstream nodes made from it. Each child carries the transformation of its edge."""
    uses: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    if downstream:
        for other in sorted(index.nodes.keys() & _descendants(index, uid)):
            lineage = index.columns(other)
            for out_col in lineage.columns:
                for src in lineage.direct(out_col):
                    uses.setdefault((src.node, src.column.lower()), []).append(
                        (other, out_col, src.subtype)
                    )
    expanded: set[tuple[str, str]] = set()

    def build(cur: str, col: str, level: int, kind: str | None) -> dict[str, Any]:
        out = {**_label(index, cur), "column": col, "transformation": kind, "children": []}
        if downstream:
            nxt = [(n, c, k) for n, c, k in uses.get((cur, col.lower()), [])]
        else:
            lineage = index.columns(cur) if cur in index.nodes else ColumnLineage()
            nxt = [(s.node, s.column, s.subtype) for s in lineage.direct(col)]
        key = (cur, col.lower())
        if key in expanded and nxt:
            out["repeated"] = True
            return out
        expanded.add(key)
        if depth is not None and level >= depth:
            out["truncated"] = bool(nxt)
            return out
        out["children"] = [build(n, c, level + 1, k) for n, c, k in sorted(set(nxt))]
        return out

    return build(uid, column, 0, None)


def _descendants(index: ProjectLineage, uid: str) -> set[str]:
    children: dict[str, list[str]] = {}
    for other, node in index.nodes.items():
        for parent in node.depends_on:
            children.setdefault(parent, []).append(other)
    seen: set[str] = set()
    stack = [uid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def print_tree(tree: dict[str, Any], columns: bool) -> None:
    """Render a `table_tree` / `column_tree` with rich (plain text when not a terminal)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    def text(item: dict[str, Any]) -> str:
        name = escape(item["name"] + (f".{item['column']}" if columns else ""))
        kind = (
            item["resource_type"]
            if not item.get("materialized") or item["materialized"] == item["resource_type"]
            else (f"{item['resource_type']}, {item['materialized']}")
        )
        parts = [f"[bold]{name}[/]", f"[dim]({escape(kind)})[/]"]
        if columns and item.get("transformation"):
            parts.append(f"[cyan]{item['transformation'].lower()}[/]")
        if not columns and item.get("relation") and item["resource_type"] != "relation":
            parts.append(f"[dim]{escape(item['relation'])}[/]")
        if item.get("repeated"):
            parts.append("[dim]… (shown above)[/]")
        if item.get("truncated"):
            parts.append("[dim]…[/]")
        return " ".join(parts)

    def add(branch: Any, item: dict[str, Any]) -> None:
        for child in item["children"]:
            add(branch.add(text(child)), child)

    root = Tree(text(tree))
    add(root, tree)
    Console(soft_wrap=True).print(root)


class _ReadOnlyWarehouse:
    """The warehouse opened read-only through its engine, if it exists and can be opened now:
    lineage never creates or locks it (it works from the project files otherwise). A file
    warehouse (DuckDB) that does not exist yet, or that a running build holds, is left alone; a
    server (PostgreSQL) is connected to read-only, without the build lock."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._lock = threading.Lock()

    @classmethod
    def open(cls, ctx: Any) -> _ReadOnlyWarehouse | None:
        import dataclasses

        from headwater.engines import create_engine

        try:
            # lock_timeout 0: a warehouse held by a build is not waited for
            engine = create_engine(
                dataclasses.replace(ctx.manifest.target, lock_timeout=0), str(ctx.root)
            )
            path = getattr(engine, "path", None)  # a file engine: opening must not create it
            if path is not None and (path == ":memory:" or not Path(path).exists()):
                return None
            engine.read_only = True
            engine.open()
            return cls(engine)
        except (
            Exception
        ):  # in use by a running build, unreachable or unreadable: the project files will do
            return None

    def columns(self, relation: Relation) -> Columns:
        """Columns from the engine's catalog (schema and name compared case-insensitively)."""
        from headwater.engines.base import catalog_key

        with self._lock:
            return list(self.engine.columns_of([relation]).get(catalog_key(relation), []))

    def close(self) -> None:
        self.engine.close()
