"""Read an aggregate model's config into an `AggregateSpec`, and check it against its input.

Every mistake is a `ConfigError` naming the model, the place (the properties file's line when the
config came from YAML, else the model's file) and the fix, with "did you mean" for near misses:
an unknown `agg`, `granularity` or measure key, a measure without the column it needs, two output
columns of one name, `rollup:`/`cube:` naming something that is not a dimension, and (once the
input's columns are known, `check_input`) a column the input does not have or a grain column that
is not a date or timestamp.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from headwater.errors import ConfigError, Location, did_you_mean
from headwater.materialize.aggregate.definition import (
    AGGS,
    GRANULARITIES,
    LEVEL_COLUMN,
    MAX_PRECISION,
    METHODS,
    MIN_PRECISION,
    MODES,
    AggregateSpec,
    Grain,
    Measure,
)
from headwater.project.definition import Node

MEASURE_KEYS = ("name", "agg", "column", "method", "precision")
GRAIN_KEYS = ("column", "granularity")
EXAMPLE = (
    "e.g. dimensions: [region], grain: {column: ordered_at, granularity: day}, "
    "measures: [{name: revenue, agg: sum, column: amount}]"
)


def _where(node: Node, obj: object = None, key: object = None) -> Location:
    """Where ``obj[key]`` was written: its YAML line when the config came from a properties
    file read in this process, else the model's own file and line."""
    if obj is not None and hasattr(obj, "loc"):
        from headwater.project.validate import loc_of

        found = loc_of(obj, key)
        if found is not None and found.path:
            return found
    return Location(node.path, node.line)


def _error(node: Node, message: str, hint: str, obj: object = None, key: object = None) -> ConfigError:  # fmt: skip
    return ConfigError(message, location=_where(node, obj, key), node=node.name, hint=hint)


def _names(node: Node, key: str) -> list[str]:
    """A config value that lists column names (a single name counts as a list of one)."""
    value = node.config.get(key)
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) and i for i in items):
        raise _error(
            node, f"`{key}` of `{node.name}` must be a list of column names, got `{value!r}`",
            f"e.g. {key}: [region, channel]", node.config, key,
        )  # fmt: skip
    return [str(i) for i in items]


def spec_of(node: Node) -> AggregateSpec:
    """The aggregate `node` declares, or a `ConfigError` saying what to change."""
    dimensions = _names(node, "dimensions")
    _unique(node, dimensions, "dimensions")
    grain = _grain(node)
    measures = _measures(node)
    mode, rolled = _rollup(node, dimensions)
    spec = AggregateSpec(
        grain, tuple(dimensions), tuple(measures), mode, tuple(rolled), _lookback(node)
    )
    _no_clashes(node, spec)
    return spec


def _unique(node: Node, names: list[str], key: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise _error(node, f"`{key}` of `{node.name}` names `{name}` twice",
                         "list each column once", node.config, key)  # fmt: skip
        seen.add(name.lower())


def _grain(node: Node) -> Grain:
    raw = node.config.get("grain")
    if not isinstance(raw, Mapping):
        raise _error(
            node, f"`{node.name}` (aggregate) needs `grain`, a mapping of `column` and `granularity`, got `{raw!r}`",
            "e.g. grain: {column: ordered_at, granularity: day}", node.config, "grain",
        )  # fmt: skip
    _known_keys(node, raw, GRAIN_KEYS, "`grain`")
    column = raw.get("column")
    if not isinstance(column, str) or not column:
        raise _error(node, f"`grain` of `{node.name}` needs `column`, the date or timestamp column to bucket",
                     "e.g. grain: {column: ordered_at, granularity: day}", raw, "column")  # fmt: skip
    granularity = str(raw.get("granularity") or "").lower()
    if granularity not in GRANULARITIES:
        raise _error(
            node, f"unknown granularity `{raw.get('granularity')}` in the grain of `{node.name}`"
            + did_you_mean(granularity, GRANULARITIES),
            "use one of: " + ", ".join(GRANULARITIES), raw, "granularity",
        )  # fmt: skip
    return Grain(column, granularity)


def _known_keys(node: Node, raw: Mapping[Any, Any], allowed: Sequence[str], what: str) -> None:
    for key in raw:
        if key not in allowed:
            raise _error(
                node, f"unknown key `{key}` in {what} of `{node.name}`" + did_you_mean(str(key), allowed),
                "allowed keys: " + ", ".join(allowed), raw, key,
            )  # fmt: skip


def _measures(node: Node) -> list[Measure]:
    raw = node.config.get("measures")
    if not isinstance(raw, list | tuple) or not raw:
        raise _error(node, f"`{node.name}` (aggregate) needs `measures`, a list of {{name, agg, column}}",
                     EXAMPLE, node.config, "measures")  # fmt: skip
    out = []
    for i, item in enumerate(raw):
        where = (raw, i)
        if not isinstance(item, Mapping):
            raise _error(node, f"measure {i + 1} of `{node.name}` must be a mapping, got `{item!r}`",
                         "e.g. {name: revenue, agg: sum, column: amount}", *where)  # fmt: skip
        out.append(_measure(node, item, where))
    return out


def _measure(node: Node, item: Mapping[Any, Any], where: tuple[object, object]) -> Measure:
    _known_keys(node, item, MEASURE_KEYS, "a measure")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise _error(node, f"a measure of `{node.name}` has no `name`",
                     "give each measure the name of its output column, e.g. name: revenue", *where)  # fmt: skip
    agg = str(item.get("agg") or "").lower()
    if agg not in AGGS:
        raise _error(
            node, f"unknown agg `{item.get('agg')}` of measure `{name}` of `{node.name}`"
            + did_you_mean(agg, AGGS), "use one of: " + ", ".join(AGGS), item, "agg",
        )  # fmt: skip
    column = item.get("column")
    if column is not None and (not isinstance(column, str) or not column):
        raise _error(node, f"`column` of measure `{name}` must be a column name, got `{column!r}`",
                     "e.g. column: amount", item, "column")  # fmt: skip
    if column is None and agg != "count":
        raise _error(node, f"measure `{name}` of `{node.name}` ({agg}) needs `column`",
                     f"e.g. {{name: {name}, agg: {agg}, column: amount}}", *where)  # fmt: skip
    method = str(item.get("method") or "exact").lower()
    if method not in METHODS:
        raise _error(node, f"unknown method `{item.get('method')}` of measure `{name}`" + did_you_mean(method, METHODS),
                     "use `method: exact` (default) or `method: hll`", item, "method")  # fmt: skip
    if method != "exact" and agg != "count_distinct":
        raise _error(node, f"`method: {method}` of measure `{name}` is for count_distinct, not {agg}",
                     "drop `method`, or use agg: count_distinct", item, "method")  # fmt: skip
    return Measure(name, agg, column, method, _precision(node, item, name, method))


def _precision(node: Node, item: Mapping[Any, Any], name: str, method: str) -> int:
    from headwater.materialize.aggregate.definition import DEFAULT_PRECISION

    if "precision" not in item:
        return DEFAULT_PRECISION
    value = item["precision"]
    ok = isinstance(value, int) and not isinstance(value, bool)
    if method != "hll" or not ok or not MIN_PRECISION <= value <= MAX_PRECISION:
        raise _error(
            node, f"`precision: {value!r}` of measure `{name}` must be an integer from {MIN_PRECISION} to {MAX_PRECISION}, with method: hll",
            f"2^precision registers, standard error 1.04/sqrt(2^precision); default {DEFAULT_PRECISION} (0.81%)",
            item, "precision",
        )  # fmt: skip
    return int(value)


def _rollup(node: Node, dimensions: list[str]) -> tuple[str, list[str]]:
    given = [m for m in MODES if node.config.get(m) is not None]
    if len(given) > 1:
        raise _error(node, f"`{node.name}` sets both `rollup` and `cube`",
                     "keep one: rollup (a hierarchy, dropped from the right) or cube (every combination)",
                     node.config, "cube")  # fmt: skip
    if not given:
        return "", []
    mode = given[0]
    rolled = _names(node, mode)
    if not rolled:
        raise _error(node, f"`{mode}` of `{node.name}` names no dimension",
                     f"list dimensions to roll up, e.g. {mode}: [{', '.join(dimensions) or 'region'}]",
                     node.config, mode)  # fmt: skip
    _unique(node, rolled, mode)
    known = {d.lower(): d for d in dimensions}
    for name in rolled:
        if name.lower() not in known:
            raise _error(
                node, f"`{mode}` of `{node.name}` names `{name}`, which is not one of its dimensions"
                + did_you_mean(name, dimensions),
                f"{mode} lists some of `dimensions` ({', '.join(dimensions) or 'none'})", node.config, mode,
            )  # fmt: skip
    return mode, [known[n.lower()] for n in rolled]


def _lookback(node: Node) -> int:
    value = node.config.get("lookback", 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _error(node, f"`lookback` of `{node.name}` must be a whole number of buckets >= 0, got `{value!r}`",
                     "e.g. lookback: 2 (recompute the latest stored bucket and the 2 before it)",
                     node.config, "lookback")  # fmt: skip
    return value


def _no_clashes(node: Node, spec: AggregateSpec) -> None:
    """Every output column has its own name (case-insensitive, as warehouses compare them)."""
    owners: dict[str, str] = {}

    def claim(name: str, owner: str) -> None:
        key = name.lower()
        if key in owners:
            raise _error(
                node, f"`{node.name}` would have two columns named `{name}`: {owners[key]} and {owner}",
                "rename the measure (its `name` is its output column), e.g. "
                f"name: {name}_{'2' if owner.startswith('measure') else 'value'}",
                node.config, "measures",
            )  # fmt: skip
        owners[key] = owner

    claim(spec.grain.column, "the grain bucket")
    for d in spec.dimensions:
        claim(d, f"dimension `{d}`")
    if spec.mode:
        claim(LEVEL_COLUMN, f"the {spec.mode} level")
    for m in spec.measures:
        claim(m.name, f"measure `{m.name}`")
        if m.hll:
            claim(m.sketch, f"the sketch of measure `{m.name}`")


# -- against the input -------------------------------------------------------------------------------
TIME_KINDS = ("date", "timestamp", "timestamptz")


def time_kind(type_name: str) -> str | None:
    """`date`, `timestamp` or `timestamptz` for a catalog type of DuckDB or PostgreSQL, else None."""
    upper = type_name.upper().strip()
    if upper == "DATE":
        return "date"
    if not upper.startswith("TIMESTAMP"):
        return None
    zoned = upper.startswith("TIMESTAMPTZ") or (
        "WITH TIME ZONE" in upper and "WITHOUT TIME ZONE" not in upper
    )
    return "timestamptz" if zoned else "timestamp"


def check_input(node: Node, spec: AggregateSpec, columns: Iterable[tuple[str, str]]) -> str:
    """Check the columns the spec reads against the input's (name, type) columns; return the
    grain column's kind (`TIME_KINDS`)."""
    pairs = list(columns)
    types = {name.lower(): type_ for name, type_ in pairs}
    names = [name for name, _ in pairs]
    for column, role in _roles(spec):
        if column.lower() not in types:
            raise _error(
                node, f"{role} of `{node.name}` reads `{column}`, which its SELECT does not return"
                + did_you_mean(column, names),
                "the model's SELECT returns: " + ", ".join(names), node.config, _config_key(role),
            )  # fmt: skip
    type_ = types[spec.grain.column.lower()]
    kind = time_kind(type_)
    if kind is None:
        column = spec.grain.column
        raise _error(
            node, f"the grain column `{column}` of `{node.name}` is {type_}, not a date or timestamp",
            f"cast it in the model's SELECT, e.g. `cast({column} as timestamp) as {column}`",
            node.config, "grain",
        )  # fmt: skip
    return kind


def _roles(spec: AggregateSpec) -> list[tuple[str, str]]:
    out = [(spec.grain.column, "the grain")]
    out += [(d, f"dimension `{d}`") for d in spec.dimensions]
    out += [(m.column, f"measure `{m.name}`") for m in spec.measures if m.column is not None]
    return out


def _config_key(role: str) -> str:
    if role.startswith("dimension"):
        return "dimensions"
    return "grain" if role == "the grain" else "measures"
