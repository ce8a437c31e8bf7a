"""Expectation configurations and suites: parsing and validation of what users write.

Accepted forms of one expectation:

* GX JSON: ``{"type": "expect_...", "kwargs": {...}, "meta": {...}, "severity": ..., "id": ...,
  "notes": ...}`` (GX 0.x's ``expectation_type`` key is accepted for ``type``);
* YAML shorthand, one key: ``{"expect_column_values_to_be_between": {"min_value": 0,
  "mostly": 0.9, "severity": "warning", "meta": {...}}}`` (severity/meta/notes/id sit beside the
  kwargs);
* a bare type string: ``"expect_column_values_to_be_unique"``.

Every mistake is a `ConfigError` naming the expectation type, where it was declared and the fix.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.errors import ConfigError, Location, did_you_mean
from headwater.quality.expectations.catalog import COLUMN_TABLE_TYPES, SPECS, Param, Spec
from headwater.quality.expectations.conditions import CONDITION_PARSERS, translate_condition

SEVERITIES = ("critical", "warning", "info")
_SEVERITY_ALIASES = {"error": "critical", "warn": "warning"}
_TOP_LEVEL = ("meta", "severity", "id", "notes")


@dataclass
class ExpectationConfig:
    """One expectation as the user gave it (``kwargs`` without defaults filled in)."""

    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    severity: str = "critical"
    id: str | None = None
    notes: Any = None

    def to_json_dict(self) -> dict[str, Any]:
        """GX's stored form, so a suite round-trips through GX tools."""
        out: dict[str, Any] = {
            "type": self.type,
            "kwargs": dict(self.kwargs),
            "meta": dict(self.meta),
            "severity": self.severity,
        }
        if self.id is not None:
            out["id"] = self.id
        if self.notes is not None:
            out["notes"] = self.notes
        return out

    @property
    def column(self) -> str | None:
        value = self.kwargs.get("column")
        return value if isinstance(value, str) else None

    @property
    def spec(self) -> Spec:
        return SPECS[self.type]

    def get(self, name: str) -> Any:
        """A kwarg, or its default from the catalog."""
        if name in self.kwargs:
            return self.kwargs[name]
        param = self.spec.all_params().get(name)
        return None if param is None or param.required else param.default

    def describe(self) -> str:
        """Short human label: ``expect_column_values_to_be_unique(order_id)``."""
        spec = self.spec
        names = [self.kwargs.get(k) for k in spec.domain] or [self.kwargs.get("column")]
        shown = ", ".join(
            str(n) if not isinstance(n, list) else "+".join(map(str, n)) for n in names if n
        )
        return f"{self.type}({shown})" if shown else self.type


def _fail(
    message: str,
    *,
    type_: str | None,
    location: Location | None,
    node: str | None,
    hint: str | None = None,
) -> ConfigError:
    prefix = f"expectation `{type_}`: " if type_ else ""
    return ConfigError(prefix + message, location=location, node=node, hint=hint)


def _split(
    raw: Any, location: Location | None, node: str | None
) -> tuple[object, dict[str, Any], dict[str, Any]]:
    """(type, kwargs, top-level fields) of the three accepted forms; the type is as written
    (`lookup_spec` checks it)."""
    if isinstance(raw, str):
        return raw, {}, {}
    if not isinstance(raw, dict):
        raise _fail(
            f"an expectation must be a mapping or a type name, got {type(raw).__name__}",
            type_=None,
            location=location,
            node=node,
            hint='write {"type": "expect_...", "kwargs": {...}} or {expect_...: {kwargs}}',
        )
    if "type" in raw or "expectation_type" in raw:
        type_ = raw.get("type", raw.get("expectation_type"))
        allowed = {
            "type",
            "expectation_type",
            "kwargs",
            "rendered_content",
            "description",
            *_TOP_LEVEL,
        }
        for key in raw:
            if key not in allowed:
                raise _fail(
                    f"unknown field `{key}`" + did_you_mean(str(key), allowed),
                    type_=str(type_),
                    location=_loc(raw, key, location),
                    node=node,
                    hint="an expectation has type, kwargs, meta, severity, id and notes",
                )
        kwargs = raw.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise _fail(
                "`kwargs` must be a mapping", type_=str(type_), location=location, node=node
            )
        top = {k: raw[k] for k in _TOP_LEVEL if k in raw}
        kwargs = dict(kwargs)
        if raw.get("description") is not None:
            kwargs.setdefault("description", raw["description"])
        return type_, kwargs, top
    if len(raw) != 1:
        keys = ", ".join(f"`{k}`" for k in raw)
        raise _fail(
            f"a shorthand expectation has exactly one key (its type), got {keys}",
            type_=None,
            location=location,
            node=node,
            hint="indent the arguments under the type, e.g. {expect_column_values_to_be_between: {min_value: 0}}",
        )
    ((type_, body),) = raw.items()
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise _fail(
            f"the arguments must be a mapping, got {body!r}",
            type_=str(type_),
            location=location,
            node=node,
            hint=f"e.g. {{{type_}: {{mostly: 0.95}}}}",
        )
    kwargs = {k: v for k, v in body.items() if k not in _TOP_LEVEL}
    top = {k: body[k] for k in _TOP_LEVEL if k in body}
    return type_, kwargs, top


def _loc(container: Any, key: Any, default: Location | None) -> Location | None:
    loc = getattr(container, "loc", None)
    if callable(loc) and bool(getattr(container, "path", "")):
        try:
            found: Location | None = loc(key)
            return found
        except (KeyError, IndexError, TypeError):
            return default
    return default


def lookup_spec(type_: object, location: Location | None = None, node: str | None = None) -> Spec:
    """The catalog entry for ``type_``, or a `ConfigError` with the closest names."""
    if isinstance(type_, str) and type_ in SPECS:
        return SPECS[type_]
    word = str(type_)
    suggestion = did_you_mean(word, SPECS)
    if not suggestion and f"expect_{word}" in SPECS:
        suggestion = f" (did you mean `expect_{word}`?)"
    raise ConfigError(
        f"unknown expectation type `{word}`" + suggestion,
        location=location,
        node=node,
        hint="see headwater.quality.expectations for the supported types",
    )


def parse_expectation(
    raw: Any,
    *,
    column: str | None = None,
    location: Location | None = None,
    node: str | None = None,
) -> ExpectationConfig:
    """Validate one expectation in any accepted form and return its configuration.

    ``column`` is the column the expectation was declared under (in YAML); it fills the
    ``column`` kwarg unless one is given.
    """
    if location is None:
        location = _loc(raw, None, None)
    type_, kwargs, top = _split(raw, location, node)
    spec = lookup_spec(type_, location, node)
    if (
        column is not None
        and "column" not in kwargs
        and (spec.domain == ("column",) or spec.type in COLUMN_TABLE_TYPES)
    ):
        kwargs["column"] = column
    params = spec.all_params()
    _check_kwargs(spec, kwargs, params, raw, location, node)

    severity = top.get("severity", "critical")
    severity = _SEVERITY_ALIASES.get(severity, severity) if isinstance(severity, str) else severity
    if severity not in SEVERITIES:
        raise _fail(
            f"severity must be critical, warning or info, got {top.get('severity')!r}",
            type_=spec.type,
            location=location,
            node=node,
            hint="error/warn (dbt) are accepted too and mean critical/warning",
        )
    meta = top.get("meta") or {}
    if not isinstance(meta, dict):
        raise _fail("`meta` must be a mapping", type_=spec.type, location=location, node=node)
    ident = top.get("id")
    return ExpectationConfig(
        type=spec.type,
        kwargs=dict(kwargs),
        meta=dict(meta),
        severity=severity,
        id=None if ident is None else str(ident),
        notes=top.get("notes"),
    )


def _check_kwargs(
    spec: Spec,
    kwargs: dict[str, Any],
    params: dict[str, Param],
    raw: Any,
    location: Location | None,
    node: str | None,
) -> None:
    body = None
    if isinstance(raw, dict):
        body = (
            raw.get("kwargs")
            if ("type" in raw or "expectation_type" in raw)
            else raw.get(spec.type)
        )

    def where(key: str) -> Location | None:
        return _loc(body, key, location) if isinstance(body, dict) else location

    for key, value in kwargs.items():
        if key not in params:
            raise _fail(
                f"unknown argument `{key}`" + did_you_mean(str(key), params),
                type_=spec.type,
                location=where(key),
                node=node,
                hint="arguments: "
                + ", ".join(
                    k for k in params if k not in ("batch_id", "windows", "include_config")
                ),
            )
        if isinstance(value, dict) and "$PARAMETER" in value:
            raise _fail(
                f"`{key}` uses a suite parameter ($PARAMETER), which headwater does not resolve",
                type_=spec.type,
                location=where(key),
                node=node,
                hint="write the value itself",
            )
        message = params[key].check(value)
        if message:
            raise _fail(
                f"`{key}` must be {message}, got {value!r}",
                type_=spec.type,
                location=where(key),
                node=node,
            )
    missing = [k for k, p in params.items() if p.required and k not in kwargs]
    if missing:
        example = ", ".join(f"{m}: ..." for m in missing)
        hint = f"e.g. {{{spec.type}: {{{example}}}}}"
        if "column" in missing:
            hint += " or declare it under a column"
        raise _fail(
            "missing required argument " + ", ".join(f"`{m}`" for m in missing),
            type_=spec.type,
            location=location,
            node=node,
            hint=hint,
        )
    between = "min_value" in params and spec.type in (
        "expect_column_values_to_be_between",
        "expect_column_value_lengths_to_be_between",
    )
    if between and kwargs.get("min_value") is None and kwargs.get("max_value") is None:
        raise _fail(
            "needs `min_value` or `max_value` (or both)",
            type_=spec.type,
            location=location,
            node=node,
        )
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
        raise _fail(
            f"`min_value` ({lo}) is greater than `max_value` ({hi})",
            type_=spec.type,
            location=location,
            node=node,
        )
    if spec.type == "unexpected_rows_expectation":
        _check_query(spec, kwargs["unexpected_rows_query"], where("unexpected_rows_query"), node)
    if "row_condition" in kwargs and kwargs["row_condition"] is not None:
        try:
            translate_condition(kwargs["row_condition"], kwargs.get("condition_parser"))
        except ConfigError as exc:
            raise _fail(
                exc.message,
                type_=spec.type,
                location=where("row_condition"),
                node=node,
                hint=exc.hint,
            ) from None
    elif kwargs.get("condition_parser") not in (None, *CONDITION_PARSERS):
        raise _fail(
            f"unknown condition_parser `{kwargs['condition_parser']}`",
            type_=spec.type,
            location=where("condition_parser"),
            node=node,
            hint="use one of: " + ", ".join(CONDITION_PARSERS),
        )


def _check_query(spec: Spec, query: str, location: Location | None, node: str | None) -> None:
    from headwater.quality.expectations.sqlsafety import check_query

    try:
        check_query(query)
    except ConfigError as exc:
        raise _fail(
            exc.message, type_=spec.type, location=location, node=node, hint=exc.hint
        ) from None
    if "{batch}" not in query:
        raise _fail(
            "`unexpected_rows_query` must select from {batch} (the data being validated)",
            type_=spec.type,
            location=location,
            node=node,
            hint="e.g. SELECT * FROM {batch} WHERE amount < 0",
        )


@dataclass
class Suite:
    """A named list of expectations (GX's ExpectationSuite)."""

    name: str
    expectations: list[ExpectationConfig]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expectations": [e.to_json_dict() for e in self.expectations],
            "meta": dict(self.meta),
        }


def parse_suite(data: Any, source: str = "<suite>") -> Suite:
    """A suite from parsed YAML/JSON: a mapping with ``name`` and ``expectations``, or a list."""
    default_name = Path(source).stem if source and not source.startswith("<") else "default"
    if isinstance(data, list):
        data = {"name": default_name, "expectations": data}
    if not isinstance(data, dict):
        raise ConfigError(
            f"a suite must be a mapping with `expectations:`, got {type(data).__name__}",
            location=Location(source),
            hint="name: my_suite\nexpectations:\n  - expect_...: {...}",
        )
    allowed = {"name", "expectation_suite_name", "expectations", "meta", "id", "notes",
               "suite_parameters", "evaluation_parameters", "data_asset_type", "ge_cloud_id"}  # fmt: skip
    for key in data:
        if key not in allowed:
            raise ConfigError(
                f"unknown suite field `{key}`" + did_you_mean(str(key), allowed),
                location=_loc(data, key, Location(source)),
                hint="a suite has name, expectations and meta",
            )
    name = data.get("name", data.get("expectation_suite_name", default_name))
    items = data.get("expectations")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ConfigError(
            "`expectations` must be a list",
            location=_loc(data, "expectations", Location(source)),
        )
    meta = data.get("meta") or {}
    if not isinstance(meta, dict):
        raise ConfigError(
            "suite `meta` must be a mapping", location=_loc(data, "meta", Location(source))
        )
    expectations = []
    for index, item in enumerate(items):
        location = _loc(items, index, Location(source))
        # JSON has no line numbers: name the expectation by its position instead
        where = str(name) if location and location.line else f"{name}, expectation {index + 1}"
        expectations.append(parse_expectation(item, location=location, node=where))
    return Suite(name=str(name), expectations=expectations, meta=dict(meta))


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read a suite file: YAML (line numbers in errors) or GX suite JSON."""
    file = Path(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"suite file not found: {source}", hint="check the path") from None
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"invalid JSON: {exc.msg}",
                location=Location(source, exc.lineno, exc.colno),
                hint="check commas and quotes",
            ) from None
    else:
        from headwater.project.yaml import load_yaml

        data = load_yaml(text, source)
    return parse_suite(data, source)
