"""`lint:` of headwater.yml and a model's `lint:` config, validated with file:line.

```yaml
lint:
  rules: {HW101: error, unused_cte: off}   # a rule id or name -> warn | error | off
  marts_paths: ["models/marts/*"]          # globs over model paths for HW101
  large_rows: 1000000                      # HW106: smaller lake inputs are read whole
```

A model's config `lint: {disable: [HW104]}` silences rules for that model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.errors import ConfigError, UnknownKeyError, did_you_mean
from headwater.lint.context import DEFAULT_MARTS_PATHS, LintConfig
from headwater.lint.findings import SEVERITIES
from headwater.project.validate import as_list, check_keys, expect_type, loc_of

if TYPE_CHECKING:
    from headwater.errors import Location
    from headwater.project.definition import Node

LINT_KEYS = ("rules", "marts_paths", "large_rows")
MODEL_LINT_KEYS = ("disable",)


def rule_id(name: Any, where: Any, key: Any = None, location: Location | None = None) -> str:
    """The id of a rule named by id or name; `UnknownKeyError` with "did you mean" else."""
    from headwater.lint.rules import RULES

    ids = {r.id.lower(): r.id for r in RULES} | {r.name: r.id for r in RULES}
    text = str(name)
    found = ids.get(text.lower())
    if found is None:
        known = [r.id for r in RULES] + [r.name for r in RULES]
        raise UnknownKeyError(
            f"unknown lint rule `{text}`{did_you_mean(text, known)}",
            location=loc_of(where, key) or location,
            hint="rules: " + ", ".join(f"{r.id} ({r.name})" for r in RULES),
        )
    return found


def read_lint_config(section: Any, file: str = "headwater.yml") -> LintConfig:
    """The validated `lint:` section (``{}`` when absent)."""
    if not section:
        return LintConfig()
    expect_type(section, dict, "`lint`")
    check_keys(section, LINT_KEYS, "`lint`")
    config = LintConfig()
    rules = expect_type(section.get("rules") or {}, dict, "`lint: rules`", section, "rules")
    for name, value in rules.items():
        rid = rule_id(name, rules, name)
        severity = "off" if value is False else str(value)
        if severity not in SEVERITIES:
            raise ConfigError(
                f"lint rule `{name}` must be warn, error or off, got `{value}`"
                + did_you_mean(severity, SEVERITIES),
                location=loc_of(rules, name),
            )
        config.severities[rid] = severity
    if section.get("large_rows") is not None:
        value = section["large_rows"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(
                f"`lint: large_rows` must be a whole number of rows, got `{value}`",
                location=loc_of(section, "large_rows"),
                hint="e.g. `large_rows: 1000000`",
            )
        config.large_rows = value
    if section.get("marts_paths") is not None:
        paths = as_list(section["marts_paths"])
        config.marts_paths = tuple(str(p) for p in paths) or DEFAULT_MARTS_PATHS
    return config


def disabled_rules(node: Node, location: Location | None = None) -> set[str]:
    """The rule ids a model's `lint: {disable: [...]}` config silences."""
    spec = node.config.get("lint")
    if not spec:
        return set()
    what = f"the `lint` config of `{node.name}`"
    if not isinstance(spec, dict):
        raise ConfigError(f"{what} must be a mapping like {{disable: [HW101]}}", location=location)
    check_keys(spec, MODEL_LINT_KEYS, what)
    return {rule_id(n, spec, "disable", location) for n in as_list(spec.get("disable"))}
