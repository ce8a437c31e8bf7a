"""dbt's internal macros, as headwater provides them: the `dbt` namespace.

Each dispatched macro is registered twice, as dbt does: `default__<name>` (the implementation)
and `<name>`, which calls `adapter.dispatch('<name>', 'dbt')` — so a project that defines
`duckdb__dateadd` or `default__generate_alias_name` overrides the built-in everywhere, in its own
models and inside packages. The cross-database macros come from `headwater.sql.crossdb`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from headwater.engines.base import quote_identifier
from headwater.sql.relations import DbtRelation

if TYPE_CHECKING:
    from headwater.sql.render import Renderer


def builtin_macros(renderer: Renderer) -> dict[str, Callable[..., Any]]:
    """The macros of the `dbt` namespace for ``renderer``'s adapter."""
    from headwater.sql.crossdb import builtin_macros as crossdb_macros

    crossdb = crossdb_macros(
        renderer.adapter_type, call=lambda name: renderer._dispatch(name, "dbt")
    )
    prefixed = {k: v for k, v in crossdb.items() if "__" in k}
    impls: dict[str, Callable[..., Any]] = {k: v for k, v in crossdb.items() if "__" not in k}
    target = renderer.target

    def generate_schema_name(custom_schema_name: Any = None, node: Any = None) -> str:
        if custom_schema_name is None or str(custom_schema_name).strip() == "":
            return target.schema
        return f"{target.schema}_{str(custom_schema_name).strip()}"

    def generate_alias_name(custom_alias_name: Any = None, node: Any = None) -> str:
        if custom_alias_name is not None and str(custom_alias_name).strip():
            return str(custom_alias_name).strip()
        name = str(_get(node, "name"))
        version = _get(node, "version")
        return f"{name}_v{version}" if version not in (None, "") else name

    def generate_database_name(custom_database_name: Any = None, node: Any = None) -> Any:
        from headwater.sql.context import target_database

        if custom_database_name is None or str(custom_database_name).strip() == "":
            return target_database(target)
        return str(custom_database_name).strip()

    def get_where_subquery(relation: Any) -> Any:
        where = renderer.globals["config"].get("where")
        if where:
            return f"(select * from {relation} where {where}) dbt_subquery"
        return relation

    def make_temp_relation(base_relation: Any, suffix: str = "__dbt_tmp") -> DbtRelation:
        return DbtRelation(base_relation.database, base_relation.schema, f"{base_relation.identifier}{suffix}",
                           base_relation.type, adapter_type=renderer.adapter_type)  # fmt: skip

    def session_temp_relation(base_relation: Any, suffix: str = "__dbt_tmp") -> DbtRelation:
        """dbt-duckdb's and dbt-postgres's: a temporary table lives in the session's own schema,
        so the relation has no schema or database (neither engine takes a qualified temporary
        table), and the time in the name keeps two in one session apart. PostgreSQL's name is
        truncated to its 63 bytes, the suffix kept whole."""
        import datetime

        identifier = str(base_relation.identifier)
        if renderer.adapter_type == "postgres":
            identifier = _truncated(
                identifier, f"{suffix}{datetime.datetime.now().strftime('%H%M%S%f')}"
            )
        else:
            identifier = f"{identifier}{suffix}{datetime.datetime.now().strftime('%Y%m%d%H%M%S%f')}"
        return DbtRelation(
            None, None, identifier, base_relation.type, adapter_type=renderer.adapter_type
        )

    def postgres_relation_with_suffix(base_relation: Any, suffix: str) -> DbtRelation:
        """dbt-postgres's intermediate and backup relations: the suffix kept whole within 63 bytes."""
        return DbtRelation(base_relation.database, base_relation.schema, _truncated(str(base_relation.identifier), suffix),
                           base_relation.type, adapter_type=renderer.adapter_type)  # fmt: skip

    def create_table_as(
        temporary: Any, relation: Any, compiled_code: Any, language: str = "sql"
    ) -> str:
        kind = "temporary " if temporary else ""
        if temporary and isinstance(relation, DbtRelation):
            # a temporary table lives in the session's schema: neither engine takes it qualified
            relation = relation.include(database=False, schema=False)
        if (
            not temporary
            and renderer.adapter_type == "postgres"
            and renderer.globals["config"].get("unlogged")
        ):
            kind = "unlogged "  # dbt-postgres's `unlogged` model config
        return f"create {kind}table {relation} as (\n{compiled_code}\n)"

    def create_view_as(relation: Any, sql: Any) -> str:
        return f"create view {relation} as (\n{sql}\n)"

    def get_columns_in_query(select_sql: Any) -> list[str]:
        table = renderer.warehouse.query(
            f"select * from (\n{select_sql}\n) as __dbt_sbq where false limit 0",
            "get_columns_in_query",
        )
        return list(table.column_names) if table is not None else []

    def current_timestamp() -> str:
        return str(impls["current_timestamp"]()) if "current_timestamp" in impls else "now()"

    impls.update(
        {
            "generate_schema_name": generate_schema_name,
            "generate_alias_name": generate_alias_name,
            "generate_database_name": generate_database_name,
            "get_where_subquery": get_where_subquery,
            "make_temp_relation": make_temp_relation,
            "make_intermediate_relation": lambda base, suffix="__dbt_tmp": make_temp_relation(
                base, suffix
            ),
            "make_backup_relation": lambda base, backup_relation_type=None, suffix="__dbt_backup": (
                make_temp_relation(base, suffix)
            ),
            "create_table_as": create_table_as,
            "get_create_table_as_sql": create_table_as,
            "create_view_as": create_view_as,
            "get_create_view_as_sql": create_view_as,
            "get_columns_in_query": get_columns_in_query,
        }
    )
    if "current_timestamp" not in impls:
        impls["current_timestamp"] = current_timestamp
    out: dict[str, Callable[..., Any]] = dict(prefixed)
    for name, impl in impls.items():
        if not any(f"{p}__{name}" in out for p in ("default", renderer.adapter_type)):
            out[f"default__{name}"] = impl
        out[name] = _dispatcher(renderer, name)
    if renderer.adapter_type in ("duckdb", "postgres"):
        out[f"{renderer.adapter_type}__make_temp_relation"] = session_temp_relation
    if renderer.adapter_type == "postgres":
        out["postgres__make_intermediate_relation"] = lambda base, suffix="__dbt_tmp": (
            postgres_relation_with_suffix(base, suffix)
        )
        out["postgres__make_backup_relation"] = (
            lambda base, backup_relation_type=None, suffix="__dbt_backup": (
                postgres_relation_with_suffix(base, suffix)
            )
        )
    adapter = renderer.globals["adapter"]
    out.update(
        {
            "generate_schema_name_for_env": lambda custom_schema_name=None, node=None: (
                str(custom_schema_name).strip()
                if target.name == "prod" and custom_schema_name
                else target.schema
            ),
            "run_query": renderer.globals["run_query"],
            "statement": renderer.globals["statement"],
            "is_incremental": renderer.globals["is_incremental"],
            "should_full_refresh": renderer.globals["should_full_refresh"],
            "get_columns_in_relation": adapter.get_columns_in_relation,
            "load_relation": adapter.load_relation,
            "load_cached_relation": adapter.load_relation,
            "drop_relation_if_exists": lambda relation: (
                adapter.drop_relation(relation) if relation else ""
            ),
            "drop_relation": adapter.drop_relation,
            "create_schema": adapter.create_schema,
            "drop_schema": adapter.drop_schema,
            "truncate_relation": adapter.truncate_relation,
            "rename_relation": adapter.rename_relation,
            "quote": lambda identifier: quote_identifier(str(identifier)),
            "set_sql_header": lambda config, caller=None: config.set(
                "sql_header", caller() if caller else ""
            ),
            # dbt-duckdb registers views over upstream external files for partial runs; headwater's
            # external models always have their view in the warehouse, so there is nothing to do
            "register_upstream_external_models": lambda *args, **kwargs: "",
        }
    )
    return out


_POSTGRES_IDENTIFIER_MAX = 63


def _truncated(identifier: str, suffix: str) -> str:
    """``identifier`` + ``suffix`` within PostgreSQL's identifier length, the suffix kept whole."""
    room = _POSTGRES_IDENTIFIER_MAX - len(suffix.encode())
    head = identifier.encode()[: max(room, 0)].decode(errors="ignore")
    return head + suffix


def _dispatcher(renderer: Renderer, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return renderer._dispatch(name, "dbt")(*args, **kwargs)

    call.__name__ = name
    return call


def _get(node: Any, key: str) -> Any:
    if node is None:
        return None
    if isinstance(node, dict):
        return node.get(key)
    getter = getattr(node, "get", None)
    if callable(getter):
        return getter(key)
    return getattr(node, key, None)


__all__ = ["builtin_macros"]
