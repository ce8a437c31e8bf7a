"""The keys a source's `connection:` and `extract:` may hold, checked when the project is read.

Each connector declares its keys once, on its class: ``required`` and ``optional`` (top-level keys)
and ``sections`` (the keys of its nested mappings, such as the `http` connector's `auth:`, whose
allowed keys depend on its `type`). The loader's own keys (`write_disposition`, `max_rejected`,
...) are `COMMON_KEYS`. The same declarations serve the check at project load (file:line and
"did you mean …?", exit 2) and the connector's own check when it runs.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater.errors import did_you_mean

if TYPE_CHECKING:
    from headwater.extract.base import Connector

COMMON_KEYS = frozenset({
    "write_disposition", "primary_key", "schema_contract", "max_rejected", "lag", "connector",
    "columns", "batch_size", "load_rows", "preserve_order", "allow_empty", "max_row_drop",
})  # fmt: skip
"""Keys every connector accepts: the loader's, not the connector's."""

DISPOSITIONS = ("append", "replace", "merge")
CONTRACTS = ("evolve", "freeze", "discard_row", "discard_value")


@dataclass(frozen=True)
class Section:
    """The keys of a nested mapping of a connector's config (e.g. `retry:`), plus those of the
    variant its ``by`` key names (e.g. `auth: {type: basic, ...}`)."""

    keys: frozenset[str] = frozenset()
    by: str | None = None
    variants: Mapping[str, Iterable[str]] = field(default_factory=dict)

    def allowed(self, value: Mapping[str, Any]) -> frozenset[str] | None:
        """The keys ``value`` may hold; None when its variant is unknown (reported by the connector)."""
        if self.by is None:
            return self.keys
        variant = value.get(self.by, "none" if "none" in self.variants else None)
        if not isinstance(variant, str) or variant not in self.variants:
            return None
        return self.keys | frozenset(self.variants[variant]) | {self.by}

    def describe(self, key: str, value: Mapping[str, Any]) -> str:
        variant = value.get(self.by) if self.by else None
        return f"`{key}`" + (f" ({variant})" if isinstance(variant, str) else "")


@dataclass
class KeyProblem:
    """A key a connector does not take, or a loader key with a bad value."""

    mapping: Mapping[str, Any]
    """The mapping that holds the key (a YAML mapping knows its file and lines)."""
    key: str
    message: str
    hint: str | None = None
    unknown: bool = True
    """An unknown key (else a known key with a value that cannot work)."""


def connector_keys(cls: type[Connector]) -> frozenset[str]:
    """Every top-level key a connector class takes."""
    return frozenset(cls.required) | frozenset(cls.optional) | COMMON_KEYS


def key_problems(cls: type[Connector], parts: Iterable[Mapping[str, Any]]) -> list[KeyProblem]:
    """Unknown keys (top-level and in the connector's ``sections``) and bad loader values in the
    mappings that make up a source table's config (`connection:`, then `extract:`)."""
    allowed = connector_keys(cls)
    out: list[KeyProblem] = []
    for part in parts:
        for key, value in part.items():
            if key not in allowed:
                out.append(KeyProblem(
                    part, str(key),
                    f"connector `{cls.kind}` does not take `{key}`" + did_you_mean(str(key), allowed),
                    hint="keys: " + ", ".join(sorted(allowed)),
                ))  # fmt: skip
                continue
            section = cls.sections.get(key)
            if section is not None and isinstance(value, Mapping):
                out += _section_problems(cls.kind, str(key), value, section)
        out += list(loader_value_problems(part))
    return out


def _section_problems(
    kind: str, key: str, value: Mapping[str, Any], section: Section
) -> list[KeyProblem]:
    allowed = section.allowed(value)
    if allowed is None:
        return []
    what = section.describe(key, value)
    return [
        KeyProblem(value, str(name), f"{what} of connector `{kind}` does not take `{name}`" + did_you_mean(str(name), allowed),
                   hint="keys: " + ", ".join(sorted(allowed)))
        for name in value if name not in allowed
    ]  # fmt: skip


def loader_value_problems(config: Mapping[str, Any]) -> Iterator[KeyProblem]:
    """The loader's keys whose values cannot work (checked at load, so the error has a file:line)."""
    disposition = config.get("write_disposition")
    if disposition is not None and disposition not in DISPOSITIONS:
        yield KeyProblem(config, "write_disposition", f"unknown write_disposition `{disposition}`"
                         + did_you_mean(str(disposition), DISPOSITIONS), hint="use append, replace or merge", unknown=False)  # fmt: skip
    contract = config.get("schema_contract")
    if contract is not None and contract not in CONTRACTS:
        yield KeyProblem(config, "schema_contract", f"unknown schema_contract `{contract}`"
                         + did_you_mean(str(contract), CONTRACTS), hint="use " + ", ".join(CONTRACTS), unknown=False)  # fmt: skip
    yield from guard_value_problems(config)


def guard_value_problems(config: Mapping[str, Any]) -> Iterator[KeyProblem]:
    """`allow_empty` (true / false) and `max_row_drop` (a fraction above 0, at most 1): the keys of
    the guard against a replace that empties or shrinks a table (connectors and `files:`)."""
    allow = config.get("allow_empty")
    if allow is not None and not isinstance(allow, bool):
        yield KeyProblem(
            config,
            "allow_empty",
            f"`allow_empty` must be true or false, got `{allow!r}`",
            unknown=False,
        )
    drop = config.get("max_row_drop")
    if drop is not None and not valid_fraction(drop):
        yield KeyProblem(
            config,
            "max_row_drop",
            f"`max_row_drop` must be a fraction above 0 and at most 1, got `{drop!r}`",
            hint="e.g. `max_row_drop: 0.5` refuses a replace that loses more than half the rows",
            unknown=False,
        )


def valid_fraction(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < float(value) <= 1
