"""Lineage trees of one node: what `Context.lineage` returns and `headwater lineage` renders.

The lineage itself (schemas, column lineage, parents) is `headwater.observe.lineage`; this module
finds the node (and column) a user names, opens the warehouse read-only when it can, and walks
the project upstream or downstream into a tree of `LineageNode`s.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.errors import HeadwaterError, UsageError, did_you_mean
from headwater.observe.lineage import ColumnLineage, Columns, ProjectLineage, relation_key

if TYPE_CHECKING:
    from headwater.engines.base import Engine
    from headwater.manifest import Manifest
    from headwater.project.definition import Node, Relation


@dataclass
class LineageNode:
    """One node of a lineage tree: a node of the project (or a relation that is none,
    ``resource_type`` "relation"), with the column and transformation of the edge for column
    trees."""

    unique_id: str | None
    name: str
    resource_type: str
    materialized: str | None
    relation: str | None
    column: str | None = None
    """Column trees only: the column of this node."""
    transformation: str | None = None
    """Column trees only: how the parent's column is made from this one (OpenLineage's subtype:
    IDENTITY, TRANSFORMATION, AGGREGATION, JOIN, FILTER, ...); None at the root."""
    children: list[LineageNode] = field(default_factory=list)
    repeated: bool = False
    """Met before in the tree: its children are shown there, not again."""
    truncated: bool | None = None
    """At the depth limit: True when it has children that are not shown (None: not cut)."""
    location: str | None = None
    """A lake table: its format and where its files are (``delta s3://lake/marts/orders``)."""

    def to_dict(self, columns: bool = False) -> dict[str, Any]:
        """The JSON shape of `headwater lineage --json` (``columns``: a column tree)."""
        out: dict[str, Any] = {
            "unique_id": self.unique_id,
            "name": self.name,
            "resource_type": self.resource_type,
            "materialized": self.materialized,
            "relation": self.relation,
        }
        if self.location:
            out["location"] = self.location
        if columns:
            out["column"] = self.column
            out["transformation"] = self.transformation
        out["children"] = [c.to_dict(columns) for c in self.children]
        if self.repeated:
            out["repeated"] = True
        if self.truncated is not None:
            out["truncated"] = self.truncated
        return out


@dataclass
class LineageResult:
    """The table- or column-level lineage of one node, upstream or downstream."""

    node: str
    """The node's unique_id."""
    column: str | None
    """The column (as the node spells it) for column-level lineage, else None."""
    downstream: bool
    tree: LineageNode

    @property
    def direction(self) -> str:
        return "downstream" if self.downstream else "upstream"

    @property
    def columns(self) -> bool:
        """A column-level tree."""
        return bool(self.column)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "column": self.column,
            "direction": self.direction,
            "tree": self.tree.to_dict(self.columns),
        }


def lineage(
    manifest: Manifest,
    root: Path,
    node: str,
    column: str | None = None,
    downstream: bool = False,
    depth: int | None = None,
) -> LineageResult:
    """The lineage of ``node`` (a name, unique_id, `source.table` or relation name) in the
    project of ``manifest``; of its ``column`` when given. The warehouse is read (read-only)
    when it exists and is free, for the columns of built relations; the project files do
    otherwise."""
    if depth is not None and depth < 1:
        raise UsageError("depth must be 1 or more", hint="e.g. depth=2")
    nodes = {
        uid: n for uid, n in manifest.nodes.items() if n.resource_type not in ("test", "analysis")
    }
    found = find_node(nodes, node)
    warehouse = ReadOnlyWarehouse.open(manifest, root)
    try:
        from headwater.engines import engine_dialect

        index = ProjectLineage(
            nodes,
            warehouse.columns if warehouse else None,
            root,
            manifest.config.raw_data,
            dialect=engine_dialect(manifest.target.engine),
        )
        if column:
            column = find_column(index, found, column)
            tree = column_tree(index, found.unique_id, column, downstream, depth)
        else:
            tree = table_tree(index, found.unique_id, downstream, depth)
    finally:
        if warehouse:
            warehouse.close()
    _locate(tree, manifest)
    return LineageResult(found.unique_id, column, downstream, tree)


def _locate(tree: LineageNode, manifest: Manifest) -> None:
    """Name the storage location of every lake table in ``tree`` (lineage to the files)."""
    from headwater.lake.spec import LakeSpec
    from headwater.project.definition import lake_format

    stack = [tree]
    while stack:
        item = stack.pop()
        stack.extend(item.children)
        node = manifest.nodes.get(item.unique_id or "")
        fmt = lake_format(node.config) if node is not None else None
        if node is None or fmt is None:
            continue
        try:
            spec = LakeSpec.of(node, manifest.config, manifest.target.lake_root)
        except HeadwaterError:  # a lake source without `location` fails its own build
            continue
        item.location = f"{fmt} {spec.location.uri}"


def find_node(nodes: dict[str, Node], text: str) -> Node:
    """A node by unique_id, name, `source.table` or relation name; `UsageError` (exit 2) with
    did-you-mean otherwise."""
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
    known = sorted({n.display_name for n in nodes.values()})
    raise UsageError(
        f"no model, seed, snapshot or source named `{text}`" + did_you_mean(text, known),
        hint="see `headwater ls`",
    )


def find_column(index: ProjectLineage, node: Node, column: str) -> str:
    """``column`` as ``node`` spells it (compared case-insensitively); `UsageError` otherwise."""
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


def _label(index: ProjectLineage, uid: str) -> LineageNode:
    node = index.nodes.get(uid)
    if node is None:  # a relation that is no node of the project
        return LineageNode(None, uid, "relation", None, uid)
    relation = (
        node.relation.render(quote=False)
        if node.relation and node.materialized != "ephemeral"
        else None
    )
    return LineageNode(uid, node.display_name, node.resource_type, node.materialized, relation)


def table_tree(
    index: ProjectLineage, uid: str, downstream: bool = False, depth: int | None = None
) -> LineageNode:
    """The upstream (parents to the sources) or downstream (children to the leaves) nodes; a
    node met again is marked ``repeated`` and not expanded twice."""
    children_of: dict[str, list[str]] = {}
    if downstream:
        for other in index.nodes:
            for parent in index.parents(other):
                children_of.setdefault(parent, []).append(other)
    expanded: set[str] = set()

    def build(cur: str, level: int) -> LineageNode:
        out = _label(index, cur)
        nxt = children_of.get(cur, []) if downstream else index.parents(cur)
        if cur in expanded and nxt:
            out.repeated = True
            return out
        expanded.add(cur)
        if depth is not None and level >= depth:
            out.truncated = bool(nxt)
            return out
        out.children = [
            build(n, level + 1) for n in sorted(nxt, key=lambda u: index.nodes[u].display_name)
        ]
        return out

    return build(uid, 0)


def column_tree(
    index: ProjectLineage, uid: str, column: str, downstream: bool = False, depth: int | None = None
) -> LineageNode:
    """The columns feeding ``column`` (to source columns), or the columns of downstream nodes
    made from it. Each child carries the transformation of its edge."""
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

    def build(cur: str, col: str, level: int, kind: str | None) -> LineageNode:
        out = dataclasses.replace(_label(index, cur), column=col, transformation=kind)
        if downstream:
            nxt = list(uses.get((cur, col.lower()), []))
        else:
            lineage = index.columns(cur) if cur in index.nodes else ColumnLineage()
            nxt = [(s.node, s.column, s.subtype) for s in lineage.direct(col)]
        key = (cur, col.lower())
        if key in expanded and nxt:
            out.repeated = True
            return out
        expanded.add(key)
        if depth is not None and level >= depth:
            out.truncated = bool(nxt)
            return out
        out.children = [build(n, c, level + 1, k) for n, c, k in sorted(set(nxt))]
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


class ReadOnlyWarehouse:
    """The warehouse opened read-only through its engine, if it exists and can be opened now:
    lineage never creates or locks it (it works from the project files otherwise). A file
    warehouse (DuckDB) that does not exist yet, or that a running build holds, is left alone; a
    server (PostgreSQL) is connected to read-only, without the build lock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()

    @classmethod
    def open(cls, manifest: Manifest, root: Path) -> ReadOnlyWarehouse | None:
        from headwater.engines import create_engine

        try:
            # lock_timeout 0: a warehouse held by a build is not waited for
            engine = create_engine(dataclasses.replace(manifest.target, lock_timeout=0), str(root))
            path = getattr(engine, "path", None)  # a file engine: opening must not create it
            if path is not None and (path == ":memory:" or not Path(path).exists()):
                return None
            engine.read_only = True
            engine.open()
            return cls(engine)
        except Exception:  # in use by a running build, unreachable or unreadable: files will do
            return None

    def columns(self, relation: Relation) -> Columns:
        """Columns from the engine's catalog (schema and name compared case-insensitively)."""
        from headwater.engines.base import catalog_key

        with self._lock:
            return list(self.engine.columns_of([relation]).get(catalog_key(relation), []))

    def close(self) -> None:
        self.engine.close()
