"""Small validation helpers for YAML mappings: known keys, types, with file:line in errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from headwater.errors import ConfigError, Location, UnknownKeyError, did_you_mean
from headwater.project.yaml import YList, YMap


def loc_of(obj: Any, key: Any = None) -> Location | None:
    if isinstance(obj, YMap | YList):
        return obj.loc(key)
    return None


def check_keys(mapping: Any, allowed: Iterable[str], what: str) -> None:
    """Raise `UnknownKeyError` for the first key of ``mapping`` not in ``allowed``."""
    allowed = set(allowed)
    for key in mapping:
        if key not in allowed:
            raise UnknownKeyError(
                f"unknown key `{key}` in {what}{did_you_mean(str(key), allowed)}",
                location=loc_of(mapping, key),
                hint="allowed keys: " + ", ".join(sorted(allowed)),
            )


def check_config_keys(config: Any, what: str, location: Location | None = None) -> None:
    """Config keys are open (custom keys are allowed, as in dbt), but a near-miss of a known key
    is almost always a typo: `materialised` -> `materialized`."""
    from headwater.project.definition import MODEL_CONFIG_KEYS

    for key in config:
        name = str(key).lstrip("+")
        if name in MODEL_CONFIG_KEYS:
            continue
        close = difflib.get_close_matches(name, MODEL_CONFIG_KEYS, n=2, cutoff=0.8)
        if close:
            raise UnknownKeyError(
                f"unknown config `{name}` in {what}{did_you_mean(name, close)}",
                location=loc_of(config, key) or location,
                hint="fix the spelling; custom config keys belong under `meta:`",
            )


def expect_type(
    value: Any, types: type | tuple[type, ...], what: str, where: Any = None, key: Any = None
) -> Any:
    if not isinstance(value, types):
        names = (
            types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        )
        names = names.replace("YMap", "mapping").replace("dict", "mapping").replace("YList", "list")
        raise ConfigError(
            f"{what} must be a {names}, got {type(value).__name__} `{value!r}`",
            location=loc_of(where, key) if where is not None else loc_of(value),
        )
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
