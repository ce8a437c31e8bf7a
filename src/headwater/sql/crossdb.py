"""dbt's cross-database macros (`dbt.dateadd`, `dbt.type_string`, ...) as Python functions.

A dbt project or package gets these from `dbt.<name>(...)`, `adapter.dispatch('<name>', 'dbt')`
or an unqualified `{{ dateadd(...) }}`. Each function takes the arguments dbt's macro takes (same
names, same defaults) and returns SQL text; the result, run on the engine, has the values and the
types that dbt-core 1.11 with dbt-duckdb (or dbt-postgres) gives::

    >>> macros = builtin_macros("duckdb")
    >>> macros["dateadd"]("day", 1, "order_date")
    '(order_date + cast(1 as bigint) * interval 1 day)'
    >>> macros["type_string"]()
    'TEXT'
    >>> builtin_macros("postgres")["any_value"]("amount")
    'min(amount)'

Arguments are SQL fragments (``"order_date"``, ``"cast('2020-01-01' as date)"``) or Python values
(ints, a list for `concat`, None), spliced into the text as dbt's Jinja would splice them: the
text is SQL built from SQL, so it is formatted here, not built as sqlglot expressions. Only the
datepart words are checked (a bare word, `[A-Za-z_]+`), as they land in SQL where no quoting
applies; `string_literal` does not escape its value, as dbt's does not.

Where headwater differs from dbt:

* `get_intervals_between` returns the count as SQL, a scalar subquery, where dbt runs that query
  at compile time and splices the number; so `date_spine` is one query whose value and types are
  dbt's, and `generate_series` takes SQL too (duckdb: as dbt-duckdb does; postgres: PostgreSQL's
  own generate_series, as double precision like dbt's; default: an error). On PostgreSQL an empty
  spine (end not after start) has no rows, where dbt-postgres fails to compile.
* Operands are parenthesized: dbt's ``{{ first_date }}::timestamp`` casts only the last term of an
  expression, and dbt-postgres's dateadd is ``a + b`` without parentheses.
* No SQL comment in `last_day` (dbt-duckdb and dbt-postgres put ``--`` in it for quarters).
* Arguments that make Jinja fail in dbt (`get_powers_of_two` of SQL, a bad `date`) raise
  `CompilationError`; on postgres, `split_part` passes an SQL part number through.

Dialects: a dict per dialect (`DIALECTS`) maps macro names to implementations, like dbt's
``default__dateadd`` / ``duckdb__dateadd``; `ADAPTER_PREFIXES` says which dicts an adapter type
searches, in order. Adding a dialect: write the functions whose SQL differs from the default, put
them in a new dict under the dialect's name, and list the name in `ADAPTER_PREFIXES`.

Macros that call other macros (`date_spine` calls `dateadd`, `generate_series` and
`get_intervals_between`; `last_day` calls `dateadd` and `date_trunc`) go through the ``call``
lookup given to `builtin_macros`: ``call("dateadd")`` returns the callable to use. The default
lookup is the returned dict itself; an integrator that honours a project's own `duckdb__dateadd`
passes a lookup that dispatches (and gets that override used inside `date_spine` too).
"""

from __future__ import annotations

import datetime
import functools
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headwater.errors import CompilationError

Macro = Callable[..., Any]
"""A built-in macro as a template calls it: returns SQL text (`get_powers_of_two`: an int)."""

Lookup = Callable[[str], Macro]
"""How one macro finds another by its dispatch name: ``call("dateadd")(...)``."""

ADAPTER_PREFIXES: dict[str, list[str]] = {
    "default": ["default"],
    "duckdb": ["duckdb", "default"],
    "postgres": ["postgres", "default"],
    "redshift": ["redshift", "postgres", "default"],
}
"""The dialect dicts an adapter type searches, first match wins (dbt's dispatch prefixes)."""

BEHAVIOR_FLAGS: dict[str, bool] = {"enable_truthy_nulls_equals_macro": False}
"""dbt's behavior flags that change a macro's SQL, with their default values."""

_DATEPART = re.compile(r"[A-Za-z_]+")
_TYPE_LABELS: dict[str, dict[str, str]] = {"default": {"STRING": "TEXT"}}
_NOT_DISPATCHED = frozenset({"default_last_day"})


@dataclass(frozen=True)
class MacroEnv:
    """What an implementation knows besides its arguments: the adapter, the lookup for other
    macros, and the project's behavior flags."""

    adapter_type: str
    call: Lookup
    behavior: Mapping[str, bool] = field(default_factory=dict)

    def translate_type(self, label: str) -> str:
        """dbt's `api.Column.translate_type`: a generic label (`string`) as the adapter's type."""
        for prefix in adapter_prefixes(self.adapter_type):
            labels = _TYPE_LABELS.get(prefix)
            if labels is not None:
                return labels.get(label.upper(), label)
        return label

    def flag(self, name: str) -> bool:
        return bool(self.behavior.get(name, BEHAVIOR_FLAGS[name]))


def adapter_prefixes(adapter_type: str) -> list[str]:
    """The dispatch prefixes of an adapter type; an unknown one gets its own name, then `default`."""
    return ADAPTER_PREFIXES.get(adapter_type, [adapter_type, "default"])


def builtin_macros(
    adapter_type: str,
    *,
    call: Lookup | None = None,
    behavior: Mapping[str, bool] | None = None,
) -> dict[str, Macro]:
    """The built-in macros for an adapter type, by name.

    The dict holds every dispatch name (`dateadd`) bound to the first implementation in the
    adapter's prefixes, and every implementation under its prefixed name (`duckdb__dateadd`,
    `default__dateadd`) so that a project's override can call the built-in one it replaces.

    Args:
        adapter_type: "duckdb", "postgres", ... (see `ADAPTER_PREFIXES`).
        call: how a macro finds another one by dispatch name; defaults to this dict.
        behavior: dbt behavior flags from the project (`flags:` in dbt_project.yml).

    Example:
        >>> m = builtin_macros("duckdb")
        >>> m["split_part"]("'a,b,c'", "','", -1)
        "string_split('a,b,c', ',')[-1]"
        >>> m["default__any_value"]("x")
        'any_value(x)'
    """
    macros: dict[str, Macro] = {}
    env = MacroEnv(adapter_type, call or macros.__getitem__, dict(behavior or {}))
    prefixes = [p for p in adapter_prefixes(adapter_type) if p in DIALECTS]
    for prefix in reversed(prefixes):
        for name, impl in DIALECTS[prefix].items():
            bound = functools.partial(impl, env)
            macros[name] = bound
            if name not in _NOT_DISPATCHED:
                macros[f"{prefix}__{name}"] = bound
    return macros


# --- helpers ------------------------------------------------------------------------------------


def _datepart(macro: str, datepart: Any) -> str:
    if not isinstance(datepart, str) or not _DATEPART.fullmatch(datepart):
        raise CompilationError(
            f"`{macro}` got the datepart {datepart!r}; expected a bare word such as `day`, "
            "`week`, `month`",
            hint=f"write the datepart unquoted inside the string: {macro}('day', ...), "
            "not an SQL expression",
        )
    return datepart


def _not_implemented(env: MacroEnv, macro: str) -> CompilationError:
    return CompilationError(
        f"`{macro}` is not implemented for adapter `{env.adapter_type}`",
        hint=f"define a macro `{env.adapter_type}__{macro}` in the project's macros/",
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _join(values: Sequence[Any], sep: str) -> str:
    return sep.join(str(v) for v in values)


# --- default: the generic SQL of dbt's default__ macros -----------------------------------------


def _any_value(env: MacroEnv, expression: Any) -> str:
    return f"any_value({expression})"


def _array_append(env: MacroEnv, array: Any, new_element: Any) -> str:
    return f"array_append({array}, {new_element})"


def _array_concat(env: MacroEnv, array_1: Any, array_2: Any) -> str:
    return f"array_cat({array_1}, {array_2})"


def _array_construct(env: MacroEnv, inputs: Sequence[Any] = (), data_type: str = "integer") -> str:
    if len(inputs) > 0:
        return f"array[{_join(inputs, ', ')}]"
    return f"array[]::{data_type}[]"


def _bool_or(env: MacroEnv, expression: Any) -> str:
    return f"bool_or({expression})"


def _cast(env: MacroEnv, field: Any, type: str) -> str:
    return f"cast({field} as {type})"


def _cast_bool_to_text(env: MacroEnv, field: Any) -> str:
    return f"cast({field} as {env.translate_type('string')})"


def _concat(env: MacroEnv, fields: Sequence[Any]) -> str:
    return _join(fields, " || ")


def _current_timestamp(env: MacroEnv) -> str:
    raise _not_implemented(env, "current_timestamp")


def _current_timestamp_backcompat(env: MacroEnv) -> str:
    return "current_timestamp::timestamp"


def _current_timestamp_in_utc_backcompat(env: MacroEnv) -> str:
    return str(env.call("current_timestamp_backcompat")())


def _snapshot_get_time(env: MacroEnv) -> str:
    return str(env.call("current_timestamp")())


def _snapshot_string_as_time(env: MacroEnv, timestamp: Any) -> str:
    raise _not_implemented(env, "snapshot_string_as_time")


def _python_date(year: Any, month: Any, day: Any) -> datetime.date:
    try:
        return datetime.date(year, month, day)
    except (TypeError, ValueError) as e:
        raise CompilationError(
            f"`date` got ({year!r}, {month!r}, {day!r}): {e}",
            hint="pass a valid year, month and day as integers: dbt.date(2024, 1, 31)",
        ) from None


def _date(env: MacroEnv, year: Any, month: Any, day: Any) -> str:
    iso = _python_date(year, month, day).strftime("%Y-%m-%d")
    return f"to_date('{iso}', 'YYYY-MM-DD')"


def _date_trunc(env: MacroEnv, datepart: str, date: Any) -> str:
    return f"date_trunc('{_datepart('date_trunc', datepart)}', {date})"


def _dateadd(env: MacroEnv, datepart: str, interval: Any, from_date_or_timestamp: Any) -> str:
    unit = _datepart("dateadd", datepart)
    return f"dateadd({unit}, {interval}, {from_date_or_timestamp})"


def _datediff(env: MacroEnv, first_date: Any, second_date: Any, datepart: str) -> str:
    unit = _datepart("datediff", datepart)
    return f"datediff({unit}, {first_date}, {second_date})"


def _default_last_day(env: MacroEnv, date: Any, datepart: str) -> str:
    unit = _datepart("last_day", datepart)
    start = env.call("date_trunc")(unit, date)
    return _day_before(env, env.call("dateadd")(unit, "1", start))


def _day_before(env: MacroEnv, timestamp: str) -> str:
    return f"cast({env.call('dateadd')('day', '-1', timestamp)} as date)"


def _last_day(env: MacroEnv, date: Any, datepart: str) -> str:
    return str(env.call("default_last_day")(date, datepart))


def _equals(env: MacroEnv, expr1: Any, expr2: Any) -> str:
    if env.flag("enable_truthy_nulls_equals_macro"):
        both_null = f"({expr1} is null and {expr2} is null)"
        return f"case when (({expr1} = {expr2}) or {both_null}) then 0 else 1 end = 0"
    return f"({expr1} = {expr2})"


def _escape_single_quotes(env: MacroEnv, expression: Any) -> str:
    return str(expression).replace("'", "''")


def _except(env: MacroEnv) -> str:
    return "except"


def _intersect(env: MacroEnv) -> str:
    return "intersect"


def _get_powers_of_two(env: MacroEnv, upper_bound: Any) -> int:
    if not _is_number(upper_bound):
        raise CompilationError(
            f"`get_powers_of_two` got {upper_bound!r}; expected a number",
            hint="pass the upper bound as an integer, not SQL",
        )
    if upper_bound <= 0:
        raise CompilationError(
            f"`get_powers_of_two`: the upper bound must be positive, got {upper_bound!r}",
            hint="check the bounds given to generate_series or date_spine (is the end before the start?)",
        )
    for power in range(1, 100):
        if upper_bound <= 2**power:
            return power
    raise CompilationError(f"`get_powers_of_two`: the upper bound {upper_bound!r} is too large")


def _generate_series(env: MacroEnv, upper_bound: Any) -> str:
    if not _is_number(upper_bound):
        raise CompilationError(
            f"`generate_series` on adapter `{env.adapter_type}` needs the upper bound as a "
            f"number, got the SQL {upper_bound!r}",
            hint=f"define `{env.adapter_type}__generate_series` (or "
            f"`{env.adapter_type}__get_intervals_between` returning an int) in the project",
        )
    return _powers_of_two_series(int(env.call("get_powers_of_two")(upper_bound)), upper_bound)


def _powers_of_two_series(bits: int, upper_bound: Any) -> str:
    terms = " + ".join(f"p{i}.generated_number * power(2, {i})" for i in range(bits))
    tables = " cross join ".join(f"p as p{i}" for i in range(bits))
    return (
        "with p as (\n    select 0 as generated_number union all select 1\n), unioned as (\n"
        f"    select {terms} + 1 as generated_number\n    from {tables}\n)\n"
        f"select *\nfrom unioned\nwhere generated_number <= {upper_bound}\norder by generated_number"
    )


def _get_intervals_between(env: MacroEnv, start_date: Any, end_date: Any, datepart: str) -> str:
    """The number of periods as a scalar subquery: dbt runs this query at compile time instead."""
    unit = _datepart("get_intervals_between", datepart)
    return f"(select {env.call('datediff')(start_date, end_date, unit)})"


def _date_spine(env: MacroEnv, datepart: str, start_date: Any, end_date: Any) -> str:
    unit = _datepart("date_spine", datepart)
    count = env.call("get_intervals_between")(start_date, end_date, unit)
    series = env.call("generate_series")(count)
    period = env.call("dateadd")(unit, "row_number() over (order by 1) - 1", start_date)
    return (
        f"with rawdata as (\n{series}\n),\n"
        f"all_periods as (\n    select ({period}) as date_{unit}\n    from rawdata\n),\n"
        f"filtered as (\n    select *\n    from all_periods\n    where date_{unit} <= {end_date}\n)\n"
        "select * from filtered"
    )


def _hash(env: MacroEnv, field: Any) -> str:
    return f"md5(cast({field} as {env.translate_type('string')}))"


def _length(env: MacroEnv, expression: Any) -> str:
    return f"length({expression})"


def _listagg(
    env: MacroEnv,
    measure: Any,
    delimiter_text: Any = "','",
    order_by_clause: Any = None,
    limit_num: Any = None,
) -> str:
    within = f" within group ({order_by_clause})" if order_by_clause else ""
    if limit_num:
        sliced = f"array_slice(array_agg({measure}){within}, 0, {limit_num})"
        return f"array_to_string({sliced}, {delimiter_text})"
    return f"listagg({measure}, {delimiter_text}){within}"


def _position(env: MacroEnv, substring_text: Any, string_text: Any) -> str:
    return f"position({substring_text} in {string_text})"


def _replace(env: MacroEnv, field: Any, old_chars: Any, new_chars: Any) -> str:
    return f"replace({field}, {old_chars}, {new_chars})"


def _right(env: MacroEnv, string_text: Any, length_expression: Any) -> str:
    return f"right({string_text}, {length_expression})"


def _safe_cast(env: MacroEnv, field: Any, type: str) -> str:
    return f"cast({field} as {type})"


def _split_part(env: MacroEnv, string_text: Any, delimiter_text: Any, part_number: Any) -> str:
    return f"split_part({string_text}, {delimiter_text}, {part_number})"


def _string_literal(env: MacroEnv, value: Any) -> str:
    return f"'{value}'"


def _type_bigint(env: MacroEnv) -> str:
    return env.translate_type("bigint")


def _type_boolean(env: MacroEnv) -> str:
    return env.translate_type("boolean")


def _type_float(env: MacroEnv) -> str:
    return env.translate_type("float")


def _type_int(env: MacroEnv) -> str:
    return env.translate_type("integer")


def _type_numeric(env: MacroEnv) -> str:
    return "numeric(28,6)"


def _type_string(env: MacroEnv) -> str:
    return env.translate_type("string")


def _type_timestamp(env: MacroEnv) -> str:
    return env.translate_type("timestamp")


DEFAULT: dict[str, Callable[..., Any]] = {
    "any_value": _any_value,
    "array_append": _array_append,
    "array_concat": _array_concat,
    "array_construct": _array_construct,
    "bool_or": _bool_or,
    "cast": _cast,
    "cast_bool_to_text": _cast_bool_to_text,
    "concat": _concat,
    "current_timestamp": _current_timestamp,
    "current_timestamp_backcompat": _current_timestamp_backcompat,
    "current_timestamp_in_utc_backcompat": _current_timestamp_in_utc_backcompat,
    "date": _date,
    "date_spine": _date_spine,
    "date_trunc": _date_trunc,
    "dateadd": _dateadd,
    "datediff": _datediff,
    "default_last_day": _default_last_day,
    "equals": _equals,
    "escape_single_quotes": _escape_single_quotes,
    "except": _except,
    "generate_series": _generate_series,
    "get_intervals_between": _get_intervals_between,
    "get_powers_of_two": _get_powers_of_two,
    "hash": _hash,
    "intersect": _intersect,
    "last_day": _last_day,
    "length": _length,
    "listagg": _listagg,
    "position": _position,
    "replace": _replace,
    "right": _right,
    "safe_cast": _safe_cast,
    "snapshot_get_time": _snapshot_get_time,
    "snapshot_string_as_time": _snapshot_string_as_time,
    "split_part": _split_part,
    "string_literal": _string_literal,
    "type_bigint": _type_bigint,
    "type_boolean": _type_boolean,
    "type_float": _type_float,
    "type_int": _type_int,
    "type_numeric": _type_numeric,
    "type_string": _type_string,
    "type_timestamp": _type_timestamp,
}


# --- shared by duckdb and postgres --------------------------------------------------------------


def _now(env: MacroEnv) -> str:
    return "now()"


def _last_day_quarter_in_months(env: MacroEnv, date: Any, datepart: str) -> str:
    """dbt-duckdb's and dbt-postgres's last_day: a quarter is added as 3 months."""
    unit = _datepart("last_day", datepart)
    if unit != "quarter":
        return str(env.call("default_last_day")(date, unit))
    start = env.call("date_trunc")(unit, date)
    return _day_before(env, env.call("dateadd")("month", "3", start))


# --- duckdb: dbt-duckdb's overrides -------------------------------------------------------------


def _duckdb_any_value(env: MacroEnv, expression: Any) -> str:
    return f"arbitrary({expression})"


def _duckdb_snapshot_get_time(env: MacroEnv) -> str:
    return f"{env.call('current_timestamp')()}::timestamp"


def _duckdb_snapshot_string_as_time(env: MacroEnv, timestamp: Any) -> str:
    return f"'{timestamp}'::timestamp"


def _duckdb_date(env: MacroEnv, year: Any, month: Any, day: Any) -> str:
    return f"make_date({year}, {month}, {day})"


def _duckdb_dateadd(
    env: MacroEnv, datepart: str, interval: Any, from_date_or_timestamp: Any
) -> str:
    """An integer count of INTERVAL 1 <unit>: a DATE plus it is a TIMESTAMP, as with dbt-duckdb."""
    unit = _datepart("dateadd", datepart).lower()
    count = f"cast({interval} as bigint)"
    if unit == "quarter":
        count, unit = f"({count} * 3)", "month"
    elif unit == "week":
        count, unit = f"({count} * 7)", "day"
    return f"({from_date_or_timestamp} + {count} * interval 1 {unit})"


def _duckdb_datediff(env: MacroEnv, first_date: Any, second_date: Any, datepart: str) -> str:
    """DuckDB's date_diff counts the unit boundaries between the two timestamps; dbt-duckdb's
    `week` (exactly that spelling) counts weeks starting on Sunday from the day difference and
    the days of the week (one more going back to the same day of the week)."""
    unit = _datepart("datediff", datepart)
    first, second = f"({first_date})", f"({second_date})"
    if unit == "week":
        days = env.call("datediff")(first_date, second_date, "day")
        return f"({days} // 7 + {_week_correction(first, second)})"
    return f"(date_diff('{unit}', {first}::timestamp, {second}::timestamp))"


def _week_correction(first: str, second: str) -> str:
    """dbt's adjustment of whole weeks by the days of the week of both ends."""
    forward = f"{first} <= {second}"
    return (
        f"case when date_part('dow', {first}::timestamp) <= date_part('dow', {second}::timestamp) "
        f"then case when {forward} then 0 else -1 end "
        f"else case when {forward} then 1 else 0 end end"
    )


def _duckdb_generate_series(env: MacroEnv, upper_bound: Any) -> str:
    return f"select generate_series as generated_number\nfrom generate_series(1, {upper_bound})"


def _duckdb_listagg(
    env: MacroEnv,
    measure: Any,
    delimiter_text: Any = "','",
    order_by_clause: Any = None,
    limit_num: Any = None,
) -> str:
    order = f" {order_by_clause}" if order_by_clause else ""
    if limit_num:
        first_n = f"(array_agg({measure}{order}))[1:{limit_num}]"
        return f"list_aggr({first_n}, 'string_agg', {delimiter_text})"
    return f"string_agg({measure}, {delimiter_text}{order})"


def _duckdb_split_part(
    env: MacroEnv, string_text: Any, delimiter_text: Any, part_number: Any
) -> str:
    return f"string_split({string_text}, {delimiter_text})[{part_number}]"


DUCKDB: dict[str, Callable[..., Any]] = {
    "any_value": _duckdb_any_value,
    "current_timestamp": _now,
    "date": _duckdb_date,
    "dateadd": _duckdb_dateadd,
    "datediff": _duckdb_datediff,
    "generate_series": _duckdb_generate_series,
    "last_day": _last_day_quarter_in_months,
    "listagg": _duckdb_listagg,
    "snapshot_get_time": _duckdb_snapshot_get_time,
    "snapshot_string_as_time": _duckdb_snapshot_string_as_time,
    "split_part": _duckdb_split_part,
}


# --- postgres: dbt-postgres's overrides ---------------------------------------------------------


def _postgres_any_value(env: MacroEnv, expression: Any) -> str:
    return f"min({expression})"


def _postgres_current_timestamp_backcompat(env: MacroEnv) -> str:
    return f"current_timestamp::{env.call('type_timestamp')()}"


def _postgres_current_timestamp_in_utc_backcompat(env: MacroEnv) -> str:
    return f"(current_timestamp at time zone 'utc')::{env.call('type_timestamp')()}"


def _postgres_snapshot_get_time(env: MacroEnv) -> str:
    return f"{env.call('current_timestamp')()}::timestamp without time zone"


def _postgres_snapshot_string_as_time(env: MacroEnv, timestamp: Any) -> str:
    return f"'{timestamp}'::timestamp without time zone"


def _postgres_dateadd(
    env: MacroEnv, datepart: str, interval: Any, from_date_or_timestamp: Any
) -> str:
    unit = _datepart("dateadd", datepart)
    return f"({from_date_or_timestamp} + ((interval '1 {unit}') * ({interval})))"


def _postgres_datediff(env: MacroEnv, first_date: Any, second_date: Any, datepart: str) -> str:
    """dbt-postgres's datediff: whole units from calendar fields, counted like Snowflake."""
    unit = _datepart("datediff", datepart)
    first, second = f"({first_date})", f"({second_date})"
    if unit == "day":
        return f"({second}::date - {first}::date)"
    if unit == "week":
        days = env.call("datediff")(first_date, second_date, "day")
        return f"({days} / 7 + {_week_correction(first, second)})"
    if unit not in _POSTGRES_DATEDIFF:
        raise CompilationError(
            f"Unsupported datepart for macro datediff in postgres: {unit!r}",
            hint="use one of " + ", ".join(["day", "week", *_POSTGRES_DATEDIFF]),
        )
    coarser, factor, cast, floor = _POSTGRES_DATEDIFF[unit]
    part = f"date_part('{unit}', {{}}::{cast})"
    a, b = part.format(first), part.format(second)
    if floor:
        a, b = f"floor({a})", f"floor({b})"
    if coarser is None:
        return f"({b} - {a})"
    return f"({env.call('datediff')(first_date, second_date, coarser)} * {factor} + {b} - {a})"


# unit: (the coarser unit counted first, units per coarser unit, cast, floor the field)
_POSTGRES_DATEDIFF: dict[str, tuple[str | None, int, str, bool]] = {
    "year": (None, 1, "date", False),
    "quarter": ("year", 4, "date", False),
    "month": ("year", 12, "date", False),
    "hour": ("day", 24, "timestamp", False),
    "minute": ("hour", 60, "timestamp", False),
    "second": ("minute", 60, "timestamp", True),
    "millisecond": ("minute", 60000, "timestamp", True),
    "microsecond": ("minute", 60000000, "timestamp", True),
}


def _postgres_equals(env: MacroEnv, expr1: Any, expr2: Any) -> str:
    if env.flag("enable_truthy_nulls_equals_macro"):
        return f"({expr1} IS NOT DISTINCT FROM {expr2})"
    return f"({expr1} = {expr2})"


def _postgres_generate_series(env: MacroEnv, upper_bound: Any) -> str:
    """dbt's powers-of-two series for a number; for SQL (headwater's `get_intervals_between`),
    PostgreSQL's own generate_series, as double precision like the powers of two give."""
    if _is_number(upper_bound):
        return _generate_series(env, upper_bound)
    return (
        "select cast(generated_number as double precision) as generated_number\n"
        f"from generate_series(1, cast({upper_bound} as bigint)) as generated_number"
    )


def _postgres_listagg(
    env: MacroEnv,
    measure: Any,
    delimiter_text: Any = "','",
    order_by_clause: Any = None,
    limit_num: Any = None,
) -> str:
    order = f" {order_by_clause}" if order_by_clause else ""
    if limit_num:
        return f"array_to_string((array_agg({measure}{order}))[1:{limit_num}], {delimiter_text})"
    return f"string_agg({measure}, {delimiter_text}{order})"


def _postgres_split_part(
    env: MacroEnv, string_text: Any, delimiter_text: Any, part_number: Any
) -> str:
    """A negative part counts from the end, by dbt's formula (which counts a delimiter of several
    characters as that many delimiters, as dbt-postgres does)."""
    if not (_is_number(part_number) and part_number < 0):
        return _split_part(env, string_text, delimiter_text, part_number)
    removed = f"length(replace({string_text}, {delimiter_text}, ''))"
    position = f"length({string_text}) - {removed} + 2 - {-part_number}"
    return f"split_part({string_text}, {delimiter_text}, {position})"


POSTGRES: dict[str, Callable[..., Any]] = {
    "any_value": _postgres_any_value,
    "current_timestamp": _now,
    "current_timestamp_backcompat": _postgres_current_timestamp_backcompat,
    "current_timestamp_in_utc_backcompat": _postgres_current_timestamp_in_utc_backcompat,
    "dateadd": _postgres_dateadd,
    "datediff": _postgres_datediff,
    "equals": _postgres_equals,
    "generate_series": _postgres_generate_series,
    "last_day": _last_day_quarter_in_months,
    "listagg": _postgres_listagg,
    "snapshot_get_time": _postgres_snapshot_get_time,
    "snapshot_string_as_time": _postgres_snapshot_string_as_time,
    "split_part": _postgres_split_part,
}


DIALECTS: dict[str, dict[str, Callable[..., Any]]] = {
    "default": DEFAULT,
    "duckdb": DUCKDB,
    "postgres": POSTGRES,
}
"""Each dialect's implementations; a dialect lists only what differs from `default`."""

MACRO_NAMES: frozenset[str] = frozenset(DEFAULT)
"""Every built-in macro name (`default_last_day` is not dispatched: no prefixed names)."""

__all__ = [
    "ADAPTER_PREFIXES",
    "BEHAVIOR_FLAGS",
    "DIALECTS",
    "MACRO_NAMES",
    "Lookup",
    "Macro",
    "MacroEnv",
    "adapter_prefixes",
    "builtin_macros",
]
