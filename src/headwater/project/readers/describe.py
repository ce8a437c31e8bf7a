"""A properties entry applied to its node: description, `config:`, tags, meta, columns,
constraints, and the tests it declares (models, seeds and snapshots; versions of a model too).
"""

from __future__ import annotations

from typing import Any

from headwater.errors import ConfigError
from headwater.project.definition import Column, Node, merge_config
from headwater.project.properties import version_columns, without_include
from headwater.project.readers.data_tests import DataTestReader
from headwater.project.test_specs import constraints
from headwater.project.validate import as_list, check_config_keys, check_keys, expect_type, loc_of
from headwater.project.yaml import YMap

COLUMN_KEYS = {
    "name", "description", "data_type", "tests", "data_tests", "meta", "tags", "quote",
    "constraints", "config", "granularity", "policy_tags", "expectations",
}  # fmt: skip


def read_columns(entry: Any) -> dict[str, Column]:
    """The `columns:` of a properties entry."""
    out = {}
    for col in as_list(entry.get("columns")):
        expect_type(col, dict, "a column entry", entry.get("columns"))
        check_keys(col, COLUMN_KEYS, "a column")
        cname = col.get("name")
        if not cname:
            raise ConfigError("a column entry needs `name:`", location=loc_of(col))
        out[str(cname)] = Column(
            name=str(cname),
            description=str(col.get("description") or ""),
            data_type=col.get("data_type"),
            tags=as_list(col.get("tags")),
            meta=dict(col.get("meta") or {}),
            constraints=constraints(col.get("constraints"), col, column=True),
        )
    return out


def apply_properties(
    node: Node, props: YMap, tests: DataTestReader, version: YMap | None = None
) -> None:
    """Describe ``node`` with its properties entry ``props`` (and, for a version of a versioned
    model, its `versions:` entry), adding the tests they declare."""
    node.description = str(props.get("description") or "")
    for level in (props, version) if version is not None else (props,):
        cfg = level.get("config") or {}
        expect_type(cfg, dict, "`config`", level, "config")
        check_config_keys(cfg, f"model `{node.name}`")
        merge_config(node.config, cfg)
        if level.get("tags"):
            node.config["tags"] = list(node.config.get("tags") or []) + as_list(level["tags"])
        node.meta.update(level.get("meta") or {})
    node.columns = read_columns(props)
    if version is not None and version.get("columns") is not None:
        node.columns = version_columns(
            node.columns, read_columns(without_include(version)), version
        )
    if props.get("constraints") is not None:
        node.config["constraints"] = constraints(props.get("constraints"), props, column=False)
    tests.add_tests(node, props)
