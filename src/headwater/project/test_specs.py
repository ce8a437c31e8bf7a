"""Data tests, expectations and constraints as properties files declare them.

`test_entries`/`expectation_entries` list a model's, source's or column's `data_tests:` and
`expectations:`, `parse_test_spec`/`split_expectation_config` separate an entry's arguments from
headwater's config, `constraints` validates dbt contract constraints, and `dbt_test_names`/
`kwargs_suffix` name the test nodes (`warn_if`/`error_if` are read by
`headwater.project.thresholds`).

Validating an expectation needs the expectation catalog of the quality layer, which the project
layer does not import: the reader is given an `ExpectationParser`
(`headwater.quality.expectations.parse_expectation`) by whoever loads the project.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Protocol

from headwater.errors import ConfigError, Location, UnknownKeyError, did_you_mean
from headwater.project.definition import Node
from headwater.project.validate import check_keys, expect_type, loc_of

TEST_CONFIG_KEYS = {
    "severity", "where", "limit", "warn_if", "error_if", "store_failures", "store_failures_as",
    "tags", "enabled", "meta", "fail_calc", "alias", "schema", "database", "on_failure",
}  # fmt: skip
# Keys of an expectation entry that configure headwater's handling rather than the expectation.
EXPECTATION_CONFIG_KEYS = {"on_failure", "tags", "enabled", "name", "store_failures", "config"}


def test_entries(entry: Any, column: Any) -> list[tuple[Any, Location | None]]:
    out = []
    for key in ("data_tests", "tests"):
        items = entry.get(key)
        if items is None:
            continue
        expect_type(items, list, f"`{key}`", entry, key)
        for i, item in enumerate(items):
            out.append((item, loc_of(items, i)))
    return out


def expectation_entries(entry: Any) -> list[tuple[Any, Location | None]]:
    items = entry.get("expectations")
    if items is None:
        return []
    expect_type(items, list, "`expectations`", entry, "expectations")
    return [(item, loc_of(items, i)) for i, item in enumerate(items)]


class ParsedExpectation(Protocol):
    """What the reader needs of a validated expectation (`ExpectationConfig` of the quality layer)."""

    @property
    def type(self) -> str: ...

    @property
    def kwargs(self) -> dict[str, Any]: ...

    @property
    def severity(self) -> str:
        """`critical`, `warning` or `info`."""
        ...

    def to_json_dict(self) -> dict[str, Any]:
        """The expectation as Great Expectations stores it (kept in the test node's kwargs)."""
        ...


class StreamParser(Protocol):
    """Validates one `streams:` entry of the file ``path`` (`headwater.streams.spec.parse_stream`)
    and returns what the stream layer makes of it: an object with `name`, `description`,
    `sink.table`, `dlq`, `windows` (each with a `name`) and `window_relation(window)`."""

    def __call__(self, raw: Any, *, path: str, default_schema: str) -> Any: ...


class ExpectationParser(Protocol):
    """Validates one `expectations:` entry (``raw``, without headwater's own keys): a
    `ConfigError` at ``location`` naming ``node`` when it is wrong. ``column`` is the column the
    entry was declared under."""

    def __call__(
        self,
        raw: Any,
        *,
        column: str | None = None,
        location: Location | None = None,
        node: str | None = None,
    ) -> ParsedExpectation: ...


def split_expectation_config(spec: Any, where: Location | None) -> tuple[Any, dict[str, Any]]:
    """Take headwater's own keys (`on_failure`, `config: {...}`, `tags`, ...) out of an
    expectation entry; what remains is the expectation as Great Expectations writes it."""
    if not isinstance(spec, dict):
        return spec, {}
    spec = dict(spec)
    config: dict[str, Any] = {}
    body_key = next((k for k in spec if isinstance(k, str) and k.startswith("expect")), None)
    holders = [spec]
    if body_key is not None and isinstance(spec.get(body_key), dict):
        spec[body_key] = dict(spec[body_key])
        holders.append(spec[body_key])
    for holder in holders:
        for key in EXPECTATION_CONFIG_KEYS & set(holder):
            value = holder.pop(key)
            if key == "config":
                expect_type(value, dict, "`config` of an expectation", None)
                config.update(value)
            else:
                config[key] = value
    check_keys(config, TEST_CONFIG_KEYS | {"name"}, "the config of an expectation")
    return spec, config


_CONSTRAINT_TYPES = ("not_null", "unique", "primary_key", "check", "foreign_key", "custom")


def constraints(value: Any, owner: Any, column: bool) -> list[dict[str, Any]]:
    """dbt contract constraints, validated: `[{type: not_null}, {type: check, expression: ...}]`."""
    if value is None:
        return []
    expect_type(value, list, "`constraints`", owner, "constraints")
    out = []
    for i, item in enumerate(value):
        where = loc_of(value, i)
        if not isinstance(item, dict) or "type" not in item:
            raise ConfigError(
                f"a constraint must be a mapping with `type:`, got `{item!r}`",
                location=where,
                hint="e.g. `- type: not_null` or `- type: check\n  expression: amount >= 0`",
            )
        kind = str(item["type"])
        if kind not in _CONSTRAINT_TYPES:
            raise UnknownKeyError(
                f"unknown constraint type `{kind}`" + did_you_mean(kind, _CONSTRAINT_TYPES),
                location=where,
            )
        if kind == "check" and not item.get("expression"):
            raise ConfigError("a `check` constraint needs `expression:`", location=where)
        if not column and kind in ("not_null", "unique", "primary_key") and not item.get("columns"):
            raise ConfigError(
                f"a model-level `{kind}` constraint needs `columns: [...]`",
                location=where,
                hint="or declare it under the column",
            )
        out.append(dict(item))
    return out


def parse_test_spec(
    spec: Any, where: Location | None
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """`unique` | `{accepted_values: {values: [...], config: {...}}}` -> (name, kwargs, config)."""
    if isinstance(spec, str):
        return spec, {}, {}
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(
            f"a test must be a name or a mapping with one key, got `{spec!r}`",
            location=where,
            hint="write `- unique` or `- accepted_values: {values: [a, b]}`",
        )
    name, body = next(iter(spec.items()))
    body = dict(body or {})
    config = dict(body.pop("config", None) or {})
    kwargs = dict(body.pop("arguments", None) or {})
    for key in list(body):
        if key in TEST_CONFIG_KEYS or key == "name":
            config[key] = body.pop(key)
    kwargs.update(body)
    check_keys(config, TEST_CONFIG_KEYS | {"name"}, f"the config of test `{name}`")
    return str(name), kwargs, config


def dbt_test_names(
    node: Node, test_name: str, kwargs: dict[str, Any], column: str | None
) -> tuple[str, str]:
    """dbt's name of a generic test (its full name) and the short form dbt uses as the file name and
    `store_failures` table when the full name has 64 characters or more.

    The name is `[<namespace>_][source_]<test>_<target>_<arguments>`: the arguments sorted by name,
    mapping values and list items flattened, each reduced to `[0-9a-zA-Z_]`, joined by `__`.
    """
    namespace, _, short = test_name.rpartition(".")
    name = ("source_" if node.resource_type == "source" else "") + short
    if namespace:
        name = f"{namespace}_{name}"
    if node.resource_type == "source":
        target = f"{node.source_name}_{node.name}"
    elif node.version is not None:
        target = f"{node.name}_v{node.version}"
    else:
        target = node.name
    args = dict(kwargs)
    if column is not None:
        args.setdefault("column_name", column)
    flat: list[str] = []
    for key in sorted(args):
        value = args[key]
        parts = (
            list(value.values())
            if isinstance(value, dict)
            else list(value)
            if isinstance(value, list | tuple)
            else [value]
        )
        flat.extend(str(p) for p in parts)
    unique = "__".join(re.sub(r"[^0-9a-zA-Z_]+", "_", part) for part in flat)
    identifier = f"{name}_{target}"
    full = f"{identifier}_{unique}"
    if len(full) >= 64:
        return full, f"{identifier[:30]}_{hashlib.md5(full.encode()).hexdigest()}"
    return full, full


def kwargs_suffix(kwargs: dict[str, Any]) -> str:
    if not kwargs:
        return ""
    parts = []
    for key in sorted(kwargs):
        value = kwargs[key]
        if isinstance(value, list | tuple):
            value = "_".join(str(v) for v in value)
        parts.append(str(value))
    text = re.sub(r"[^A-Za-z0-9_]+", "_", "__".join(parts)).strip("_")
    if len(text) > 40:
        text = text[:24] + "_" + hashlib.md5(text.encode()).hexdigest()[:8]
    return text
