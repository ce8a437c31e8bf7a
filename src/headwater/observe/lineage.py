"""Table- and column-level lineage of a project (the command is `headwater.observe.lineage_cli`).

Column lineage comes from the compiled SQL of each node, parsed and qualified by sqlglot with the
schemas of the relations it reads, so `SELECT *` (and `* EXCLUDE`) expand. The scopes of the query
(CTEs, subqueries, set operations) are walked from every output column down to the tables the query
reads. Each input column is classified as OpenLineage's column-lineage facet does:

- DIRECT IDENTITY / TRANSFORMATION / AGGREGATION: the value is copied / computed / aggregated;
- INDIRECT JOIN / FILTER / GROUP_BY / SORT / WINDOW / CONDITIONAL: it decides which rows or
  which branch, not the value (kept per column for WINDOW and CONDITIONAL, for the whole dataset
  otherwise).

Ephemeral models are inlined into their children as CTEs named ``__hw_eph_<name>``. The lineage
of a node either stops at those CTEs and names the ephemeral node (``through_ephemerals=False``,
what the trees of `headwater lineage` show: the ephemeral is a hop) or walks through them to the
relations the ephemeral reads (``True``, what OpenLineage events carry: an ephemeral is no dataset).

Schemas of upstream relations come, in this order, from the warehouse (when it exists and has the
relation: the engine's catalog), from the lineage of the upstream model itself (its output
columns), from the columns declared in .yml files, or from the header of a seed / local source
file (read by DuckDB as local compute). So lineage works before the first build. The SQL is
parsed in the target engine's dialect (`ProjectLineage(dialect=engine.DIALECT)`: ``postgres``
for a PostgreSQL project); unquoted identifiers are compared case-insensitively, as both
engines fold them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlglot import exp

    from headwater.project.definition import Node, Relation

EPHEMERAL_PREFIX = (
    "__hw_eph_"  # same as headwater.sql.compiler.EPHEMERAL_PREFIX (not imported: keeps this light)
)
DIRECT, INDIRECT = "DIRECT", "INDIRECT"
_RANK = {"IDENTITY": 0, "TRANSFORMATION": 1, "AGGREGATION": 2}
_CLAUSES = (("joins", "JOIN"), ("where", "FILTER"), ("having", "FILTER"), ("qualify", "FILTER"),
            ("group", "GROUP_BY"), ("order", "SORT"))  # fmt: skip

Columns = list[tuple[str, str]]
"""(name, type) of a relation's columns; type "UNKNOWN" when not known."""
Resolver = Callable[[str], "tuple[str, Columns | None] | None"]
"""Lower-case relation name (``schema.table``, ``db.schema.table`` or an ephemeral CTE name) ->
(the node's unique_id or the relation name, its columns or None), or None if unknown."""


@dataclass(frozen=True, order=True)
class Source:
    """One input column of an output column: ``node`` is an upstream node's unique_id (or the
    relation name when the table is no node of the project)."""

    node: str
    column: str
    type: str = DIRECT
    subtype: str = "IDENTITY"

    def to_dict(self) -> dict[str, str]:
        return {
            "node": self.node,
            "column": self.column,
            "type": self.type,
            "subtype": self.subtype,
        }


@dataclass
class ColumnLineage:
    """Lineage of one query: per output column its inputs, plus inputs that affect all rows."""

    columns: dict[str, list[Source]] = field(default_factory=dict)
    dataset: list[Source] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    """Nodes / relations the query reads, in order of appearance."""
    complete: bool = True
    """False when a `*` could not be expanded (a relation of unknown schema): columns it
    produces are missing unless the output columns were known."""
    error: str | None = None

    def direct(self, column: str) -> list[Source]:
        """The DIRECT inputs of ``column`` (what its value is made of)."""
        return [s for s in self.columns.get(column, []) if s.type == DIRECT]

    def kind(self, column: str) -> str | None:
        """IDENTITY (a copy of one input column), AGGREGATION or TRANSFORMATION; None if no input."""
        direct = self.direct(column)
        if not direct:
            return None
        if len({(s.node, s.column) for s in direct}) == 1 and all(
            s.subtype == "IDENTITY" for s in direct
        ):
            return "IDENTITY"
        return max((s.subtype for s in direct), key=_RANK.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": {c: [s.to_dict() for s in srcs] for c, srcs in self.columns.items()},
            "dataset": [s.to_dict() for s in self.dataset],
            "inputs": list(self.inputs),
            "complete": self.complete,
            "error": self.error,
        }


# -- column lineage of one query ------------------------------------------------------------------
def column_lineage(
    sql: str,
    resolve: Resolver,
    *,
    dialect: str = "duckdb",
    through_ephemerals: bool = True,
    known_columns: Iterable[str] | None = None,
) -> ColumnLineage:
    """Column lineage of the last statement of ``sql``; never raises (``error`` says why empty).

    ``known_columns``: the real output columns (e.g. from the warehouse), used to name columns a
    `*` of unknown schema produces and to keep their spelling.
    """
    try:
        return _Walker(sql, resolve, dialect, through_ephemerals, list(known_columns or [])).run()
    except Exception as exc:  # sqlglot cannot parse / qualify it: lineage is best effort
        return ColumnLineage(complete=False, error=f"{type(exc).__name__}: {exc}")


def _compose(outer: tuple[str, str], inner: Source) -> Source:
    """The input ``inner`` seen through an expression of kind ``outer`` (type, subtype)."""
    if outer[0] == INDIRECT:
        return Source(inner.node, inner.column, INDIRECT, outer[1])
    if inner.type == INDIRECT:
        return inner
    sub = max(outer[1], inner.subtype, key=_RANK.__getitem__)
    return Source(inner.node, inner.column, DIRECT, sub)


def _dedupe(sources: Iterable[Source]) -> list[Source]:
    return list(dict.fromkeys(sources))


class _Walker:
    # scopes are sqlglot `Scope`s and projections its expressions, but stay `Any`: sqlglot types
    # `Scope.expression` as a bare expression, so every `.selects` of a query would need a cast

    def __init__(
        self, sql: str, resolve: Resolver, dialect: str, through: bool, known: list[str]
    ) -> None:
        self.sql = sql
        self.resolve = resolve
        self.dialect = dialect
        self.through = through
        self.known = known
        self.case: dict[str, str] = {}
        self.leaves: dict[str, tuple[str, Columns | None]] = {}
        self.memo: dict[tuple[int, str], list[Source]] = {}
        self.inputs: list[str] = []
        self.complete = True

    # -- setup -----------------------------------------------------------------------------------
    def run(self) -> ColumnLineage:
        import sqlglot
        from sqlglot import exp
        from sqlglot.optimizer.qualify import qualify
        from sqlglot.optimizer.scope import build_scope
        from sqlglot.schema import MappingSchema

        statements = [s for s in sqlglot.parse(self.sql, read=self.dialect) if s is not None]
        if not statements:
            return ColumnLineage(complete=False, error="no statement")
        tree = statements[-1]
        if not isinstance(tree, exp.Query):
            return ColumnLineage(complete=False, error=f"not a query: {type(tree).__name__}")
        # DuckDB identifiers are case-insensitive: compare in lower case, print as written
        for ident in tree.find_all(exp.Identifier):
            name = str(ident.this)
            self.case.setdefault(name.lower(), name)
            ident.set("this", name.lower())
        for name in self.known:
            self.case[name.lower()] = name
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        mapping: dict[str, Any] = {}  # db -> table -> column -> type, as sqlglot takes it
        for table in tree.find_all(exp.Table):
            if not table.name or isinstance(table.this, exp.Func | exp.Anonymous):
                continue
            key = _table_key(table)
            if not table.db and key in ctes:
                continue
            found = self._lookup(key)
            if found is None or found[1] is None:
                continue
            cols: dict[str, str] = {}
            for name, type_ in found[1]:
                self.case[name.lower()] = name  # a table's spelling beats the query's
                cols[name.lower()] = _type_or_unknown(type_, self.dialect)
            mapping.setdefault(table.db or "", {})[table.name] = cols
        schema = MappingSchema(mapping, dialect=self.dialect, normalize=False) if mapping else None
        qualified = qualify(
            tree, schema=schema, dialect=self.dialect, validate_qualify_columns=False,
            identify=False, quote_identifiers=False,
        )  # fmt: skip
        root = build_scope(qualified)
        if root is None:
            return ColumnLineage(complete=False, error="no scope")
        out = ColumnLineage()
        for name in self._output_names(root):
            srcs = self._walk(root, name)
            out.columns[self._cased(name)] = sorted(_dedupe(srcs))
        for name in self.known:
            if name not in out.columns and name.lower() not in {c.lower() for c in out.columns}:
                out.columns[name] = sorted(_dedupe(self._walk(root, name.lower())))
        out.dataset = sorted(_dedupe(self._dataset(root)))
        out.inputs = list(dict.fromkeys(self.inputs))
        out.complete = self.complete
        return out

    def _lookup(self, key: str) -> tuple[str, Columns | None]:
        if key not in self.leaves:
            found = self.resolve(key)
            if found is None and key.count(".") == 2:
                found = self.resolve(key.split(".", 1)[1])  # db.schema.table -> schema.table
            self.leaves[key] = found if found is not None else (key, None)
        return self.leaves[key]

    def _cased(self, name: str) -> str:
        return self.case.get(name, name)

    # -- scopes ------------------------------------------------------------------------------------
    def _output_names(self, scope: Any) -> list[str]:
        from sqlglot import exp

        while scope.set_operation_scopes:
            scope = scope.set_operation_scopes[0]
        names = []
        for proj in scope.expression.selects:
            if isinstance(proj, exp.Star) or (
                isinstance(proj, exp.Column) and isinstance(proj.this, exp.Star)
            ):
                self.complete = False
                continue
            names.append(proj.alias_or_name)
        return names

    def _walk(self, scope: Any, column: str) -> list[Source]:
        """Inputs of output ``column`` of ``scope``."""
        key = (id(scope), column)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = []  # a recursive CTE refers to itself: stop there
        if scope.set_operation_scopes:
            index = self._position(scope, column)
            result: list[Source] = []
            for branch in _branches(scope):
                selects = branch.expression.selects
                if index is not None and index < len(selects):
                    result += self._projection(branch, selects[index])
                else:
                    result += self._walk(branch, column)
        else:
            result = self._select_column(scope, column)
        self.memo[key] = result
        return result

    def _position(self, scope: Any, column: str) -> int | None:
        first = scope
        while first.set_operation_scopes:
            first = first.set_operation_scopes[0]
        for i, proj in enumerate(first.expression.selects):
            if proj.alias_or_name == column:
                return i
        return None

    def _select_column(self, scope: Any, column: str) -> list[Source]:
        from sqlglot import exp

        stars = []
        for proj in scope.expression.selects:
            if isinstance(proj, exp.Star) or (
                isinstance(proj, exp.Column) and isinstance(proj.this, exp.Star)
            ):
                stars.append(proj)
            elif proj.alias_or_name == column:
                return self._projection(scope, proj)
        for star in stars:  # a `*` of a relation whose columns are unknown: pass the name through
            names = (
                [star.table] if isinstance(star, exp.Column) and star.table else list(scope.sources)
            )
            if len(names) == 1:
                return self._from_source(scope, names[0], column)
        return []

    def _projection(self, scope: Any, proj: Any) -> list[Source]:
        from sqlglot import exp

        expr = proj.this if isinstance(proj, exp.Alias) else proj
        if isinstance(expr, exp.Column):
            return self._column(scope, expr)
        if isinstance(expr, exp.Subquery | exp.Select):
            return self._subquery(scope, expr, (DIRECT, "IDENTITY"))
        out: list[Source] = []
        for node in _own_nodes(expr):
            if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
                kind = _occurrence_kind(node, expr)
                out += [_compose(kind, s) for s in self._column(scope, node)]
            elif isinstance(node, exp.Subquery) or (
                isinstance(node, exp.Select) and node is not expr
            ):
                kind = _occurrence_kind(node, expr)
                out += self._subquery(scope, node, kind)
        return out

    def _subquery(self, scope: Any, node: Any, kind: tuple[str, str]) -> list[Source]:
        from sqlglot import exp

        inner = node.this if isinstance(node, exp.Subquery) else node
        for sub in scope.subquery_scopes:
            if sub.expression is inner:
                first = sub
                while first.set_operation_scopes:
                    first = first.set_operation_scopes[0]
                out: list[Source] = []
                for proj in first.expression.selects:
                    out += [_compose(kind, s) for s in self._walk(sub, proj.alias_or_name)]
                return out
        return []

    def _column(self, scope: Any, col: exp.Column) -> list[Source]:
        """The inputs of a column reference ``col`` in ``scope``."""
        table = col.table
        if not table:
            candidates = [n for n in scope.sources if self._has_column(scope.sources[n], col.name)]
            if len(candidates) != 1:
                candidates = list(scope.sources) if len(scope.sources) == 1 else []
            if not candidates:
                return []
            table = candidates[0]
        return self._from_source(scope, table, col.name)

    def _has_column(self, source: Any, column: str) -> bool:
        from sqlglot import exp

        if isinstance(source, exp.Table):
            cols = self._lookup(_table_key(source))[1] if source.name else None
            return bool(cols) and column in {c.lower() for c, _ in cols or []}
        return column in {p.alias_or_name for p in getattr(source.expression, "selects", [])}

    def _from_source(self, scope: Any, name: str, column: str) -> list[Source]:
        from sqlglot import exp

        current = scope
        while current is not None and name not in current.sources:
            current = current.parent  # a correlated reference to an outer query
        if current is None:
            return []
        source = current.sources[name]
        if isinstance(source, exp.Table):
            if not source.name or isinstance(source.this, exp.Func | exp.Anonymous):
                return []
            node, cols = self._lookup(_table_key(source))
            self.inputs.append(node)
            spelled = {c.lower(): c for c, _ in cols or []}
            return [Source(node, spelled.get(column) or self._cased(column))]
        if not self.through and _is_ephemeral_cte(source):
            cte = source.expression.parent.alias_or_name.lower()
            found = self._lookup(cte)
            node = found[0] if found else cte
            self.inputs.append(node)
            return [Source(node, self._cased(column))]
        return self._walk(source, column)

    # -- rows ---------------------------------------------------------------------------------------
    def _dataset(self, root: Any) -> list[Source]:
        """Inputs of joins, filters, grouping and sorting of every scope (they affect all rows)."""
        from sqlglot import exp

        out: list[Source] = []
        for scope in root.traverse():
            if not self.through and _inside_ephemeral_cte(scope):
                continue
            select = scope.expression
            if not isinstance(select, exp.Select):
                continue
            for arg, subtype in _CLAUSES:
                value = select.args.get(arg)
                parts = value if isinstance(value, list) else [value] if value is not None else []
                for part in parts:
                    if arg == "joins":
                        part = part.args.get("on")
                        if part is None:
                            continue
                    for node in _own_nodes(part):
                        if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
                            out += [
                                _compose((INDIRECT, subtype), s) for s in self._column(scope, node)
                            ]
                        elif isinstance(node, exp.Subquery | exp.Select) and node is not part:
                            out += self._subquery(scope, node, (INDIRECT, subtype))
        return out


def _branches(scope: Any) -> list[Any]:
    if not scope.set_operation_scopes:
        return [scope]
    return [b for s in scope.set_operation_scopes for b in _branches(s)]


def _own_nodes(expr: Any) -> Iterable[Any]:
    """Nodes of ``expr`` without descending into nested queries (their scopes are walked
    separately): columns, and the nested subqueries themselves."""
    from sqlglot import exp

    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if node is not expr and isinstance(node, exp.Subquery | exp.Select):
            continue
        for child in node.iter_expressions():
            stack.append(child)


def _occurrence_kind(node: Any, root: Any) -> tuple[str, str]:
    """How one column occurrence inside expression ``root`` shapes the value."""
    from sqlglot import exp

    aggregated = False
    child = node
    parent = node.parent
    while parent is not None and child is not root:
        if isinstance(parent, exp.Window) and child is not parent.this:
            return INDIRECT, "WINDOW"  # PARTITION BY / ORDER BY of a window
        if isinstance(parent, exp.If) and child is parent.args.get("this"):
            return INDIRECT, "CONDITIONAL"  # the WHEN of a CASE
        if isinstance(parent, exp.Case) and child is parent.args.get("this"):
            return INDIRECT, "CONDITIONAL"  # CASE x WHEN ...
        if isinstance(parent, exp.Filter) and child is parent.args.get("expression"):
            return INDIRECT, "FILTER"  # agg(...) FILTER (WHERE ...)
        if isinstance(parent, exp.AggFunc):
            aggregated = True
        child, parent = parent, parent.parent
    return DIRECT, "AGGREGATION" if aggregated else "TRANSFORMATION"


def _table_key(table: exp.Table) -> str:
    return ".".join(p for p in (table.catalog, table.db, table.name) if p).lower()


def _is_ephemeral_cte(scope: Any) -> bool:
    from sqlglot import exp

    parent = scope.expression.parent
    return (
        scope.is_cte
        and isinstance(parent, exp.CTE)
        and parent.alias_or_name.lower().startswith(EPHEMERAL_PREFIX)
    )


def _inside_ephemeral_cte(scope: Any) -> bool:
    current = scope
    while current is not None:
        if current.is_cte and _is_ephemeral_cte(current):
            return True
        current = current.parent
    return False


def _type_or_unknown(type_: str, dialect: str) -> str:
    from sqlglot import exp

    try:
        exp.DataType.build(type_ or "UNKNOWN", dialect=dialect)
        return type_ or "UNKNOWN"
    except Exception:
        return "UNKNOWN"


# -- a project's lineage ----------------------------------------------------------------------------
def relation_key(relation: Relation) -> str:
    """The lower-case ``schema.table`` name lineage looks relations up by."""
    return relation.render(quote=False).lower()


class ProjectLineage:
    """Schemas and column lineage of a project's nodes, computed on demand and memoized.

    ``warehouse(relation) -> columns`` reads the warehouse (an empty list: not there); pass None to
    work from the project files alone. Thread-safe (the OpenLineage observer calls it from workers).
    """

    def __init__(
        self,
        nodes: dict[str, Node],
        warehouse: Callable[[Relation], Columns] | None = None,
        root: str | Path = ".",
        raw_data: str = "data/raw",
        dialect: str = "duckdb",
    ) -> None:
        self.nodes = nodes
        self.warehouse = warehouse
        self.root = Path(root)
        self.raw_data = raw_data
        self.dialect = dialect
        self._by_relation = {
            relation_key(n.relation): uid
            for uid, n in nodes.items()
            if n.relation is not None
            and n.materialized != "ephemeral"
            and n.resource_type not in ("test", "analysis")
        }
        self._ephemerals = {
            EPHEMERAL_PREFIX + n.name.lower(): uid
            for uid, n in nodes.items()
            if n.materialized == "ephemeral"
        }
        self._schemas: dict[str, Columns | None] = {}
        self._lineage: dict[tuple[str, bool], ColumnLineage] = {}
        self._lock = threading.RLock()

    # -- schemas -----------------------------------------------------------------------------------
    def schema(self, uid: str) -> Columns | None:
        """Columns of node ``uid``: warehouse, else its own lineage, declared columns, file header."""
        with self._lock:
            if uid not in self._schemas:
                self._schemas[uid] = None  # guards against cycles through `this`
                self._schemas[uid] = self._schema(self.nodes[uid])
            return self._schemas[uid]

    def forget(self, uid: str) -> None:
        """Drop what is known of ``uid`` (it was just rebuilt) and of the lineage computed from it."""
        with self._lock:
            self._schemas.pop(uid, None)
            for key in [k for k in self._lineage if k[0] == uid]:
                del self._lineage[key]

    def _schema(self, node: Node) -> Columns | None:
        if (
            self.warehouse is not None
            and node.relation is not None
            and node.materialized != "ephemeral"
        ):
            try:
                found = self.warehouse(node.relation)
            except Exception:
                found = []
            if found:
                return list(found)
        declared = [(c.name, c.data_type or "UNKNOWN") for c in node.columns.values()]
        types = {name.lower(): t for name, t in declared}
        if node.compiled_sql and node.resource_type in ("model", "snapshot"):
            lineage = self.columns(node.unique_id)
            if lineage.columns and (lineage.complete or not declared):
                return [(c, types.get(c.lower(), "UNKNOWN")) for c in lineage.columns]
        # the file's header beats columns documented in .yml (often a few)
        from_file = self._file_schema(node)
        if from_file:
            return [(c, types.get(c.lower(), t)) for c, t in from_file]
        return declared or None

    def _file_schema(self, node: Node) -> Columns | None:
        """Columns of a seed or a local file source, read by DuckDB as local compute
        (`headwater.engines.local`), whatever the target engine: no warehouse is opened. The
        types are DuckDB's (the file's), which is what a source or seed is read as."""
        if node.resource_type not in ("seed", "source") or (
            node.resource_type == "source" and node.files is None
        ):
            return None
        if node.files is not None and "://" in node.files.path:
            return None  # remote files: not without credentials and a network round trip
        try:
            from headwater.engines import local
            from headwater.engines.duckdb import DuckDBEngine
            from headwater.materialize import materialization_for
            from headwater.project.definition import ProjectConfig, Target

            # never opened: it only spells the SELECT that reads the files with DuckDB's readers
            reader = DuckDBEngine(
                Target(name="lineage", path=":memory:", threads=1), str(self.root)
            )
            project = ProjectConfig(name="lineage", root=str(self.root), raw_data=self.raw_data)
            sql = materialization_for(node).select_sql(node, reader, project)
            return local.describe(f"({sql})") or None
        except Exception:
            return None

    # -- lineage -----------------------------------------------------------------------------------
    def columns(self, uid: str, through_ephemerals: bool = False) -> ColumnLineage:
        """Column lineage of node ``uid`` (empty for nodes without SQL)."""
        with self._lock:
            key = (uid, through_ephemerals)
            if key not in self._lineage:
                self._lineage[key] = ColumnLineage()  # guards against cycles
                self._lineage[key] = self._compute(self.nodes[uid], through_ephemerals)
            return self._lineage[key]

    def _compute(self, node: Node, through: bool) -> ColumnLineage:
        if not node.compiled_sql:
            return ColumnLineage()
        for parent in self._ordered_ancestors(node):  # outermost first: no deep recursion
            self.schema(parent)
        known: list[str] = []
        if (
            self.warehouse is not None
            and node.relation is not None
            and node.materialized != "ephemeral"
        ):
            try:
                known = [c for c, _ in self.warehouse(node.relation)]
            except Exception:
                known = []

        def resolve(key: str) -> tuple[str, Columns | None] | None:
            uid = self._by_relation.get(key) or self._ephemerals.get(key)
            if uid is not None:
                return uid, (self.schema(uid) if uid != node.unique_id else None)
            if self.warehouse is not None and "." in key:
                from headwater.project.definition import Relation

                parts = key.split(".")
                try:
                    cols = self.warehouse(Relation(schema=parts[-2], identifier=parts[-1]))
                except Exception:
                    cols = []
                return key, (cols or None)
            return None

        return column_lineage(
            node.compiled_sql,
            resolve,
            dialect=self.dialect,
            through_ephemerals=through,
            known_columns=known,
        )

    def _ordered_ancestors(self, node: Node) -> list[str]:
        seen: dict[str, None] = {}
        stack = list(node.depends_on)
        while stack:
            uid = stack.pop()
            if uid in seen or uid not in self.nodes or uid == node.unique_id:
                continue
            seen[uid] = None
            stack.extend(self.nodes[uid].depends_on)
        order: list[str] = []
        done: set[str] = set()
        for start in seen:  # depth-first post-order, iteratively
            stack2: list[tuple[str, bool]] = [(start, False)]
            while stack2:
                uid, expanded = stack2.pop()
                if uid in done:
                    continue
                if expanded:
                    done.add(uid)
                    order.append(uid)
                    continue
                stack2.append((uid, True))
                stack2.extend(
                    (p, False) for p in self.nodes[uid].depends_on if p in seen and p not in done
                )
        return order

    # -- tables --------------------------------------------------------------------------------------
    def parents(self, uid: str) -> list[str]:
        """Upstream nodes as the SQL reads them: an ephemeral parent stands for what it reads
        (the compiler also records its inputs as direct dependencies; they are left out here
        unless the node reads them itself)."""
        node = self.nodes[uid]
        deps = [d for d in dict.fromkeys(node.depends_on) if d in self.nodes and d != uid]
        ephemeral = [d for d in deps if self.nodes[d].materialized == "ephemeral"]
        if not ephemeral:
            return deps
        via: set[str] = set()
        stack = list(ephemeral)
        while stack:
            for d in self.nodes[stack.pop()].depends_on:
                if d in self.nodes and d not in via:
                    via.add(d)
                    if self.nodes[d].materialized == "ephemeral":
                        stack.append(d)
        own = set(self.columns(uid).inputs) if via else set()
        return [d for d in deps if d not in via or d in own or d in ephemeral]
