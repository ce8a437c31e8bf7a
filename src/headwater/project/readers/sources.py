"""Source nodes: one per table of a `sources:` entry of a properties file, with its relation, its
`files:` or connector, freshness, observability settings and tests.
"""

from __future__ import annotations

from typing import Any

from headwater.errors import ConfigError, did_you_mean
from headwater.project.definition import LAKE_FORMATS, Node, Relation, merge_config
from headwater.project.properties import external_location, merge_freshness
from headwater.project.readers.base import Reader, ReadScope
from headwater.project.readers.data_tests import DataTestReader
from headwater.project.readers.describe import read_columns
from headwater.project.sources import connector_config, file_spec
from headwater.project.validate import as_list, check_keys, expect_type, loc_of
from headwater.project.yaml import YMap

SOURCE_KEYS = {
    "name", "description", "schema", "database", "loader", "loaded_at_field", "freshness",
    "tables", "meta", "tags", "config", "quoting", "overrides", "identifier", "connector", "connection",
    "monitors", "profile", "max_duration", "schema_change", "format",
}  # fmt: skip
TABLE_KEYS = {
    "name", "identifier", "description", "columns", "loaded_at_field", "freshness", "data_tests",
    "tests", "meta", "tags", "config", "files", "external", "quoting", "loader", "expectations", "extract",
    "monitors", "profile", "max_duration", "schema_change",
    "format", "location", "version", "as_of",  # a lake table (headwater.lake)
}  # fmt: skip
SOURCE_CONFIG_KEYS = {
    "enabled", "event_time", "meta", "tags", "freshness", "loaded_at_field", "quoting",
    "external_location", "formatter", "plugin",
    "monitors", "profile", "max_duration", "schema_change",
}  # fmt: skip
OBSERVE_KEYS = ("monitors", "profile", "max_duration", "schema_change")
"""Observability settings a source or source table may give beside `config:` (into the node's config)."""


class SourceReader(Reader):
    """Adds the tables of `sources:` entries as source nodes."""

    def __init__(self, scope: ReadScope, tests: DataTestReader) -> None:
        super().__init__(scope)
        self.tests = tests

    def read(self, src: Any) -> None:
        """One `sources:` entry: a node per table."""
        expect_type(src, dict, "a source entry", src)
        check_keys(src, SOURCE_KEYS, "a source")
        sname = src.get("name")
        if not sname:
            raise ConfigError("a source needs `name:`", location=loc_of(src))
        schema = str(src.get("schema") or sname)
        for table in as_list(src.get("tables")):
            expect_type(table, dict, f"a table of source `{sname}`", src.get("tables"))
            check_keys(table, TABLE_KEYS, f"a table of source `{sname}`")
            tname = table.get("name")
            if not tname:
                raise ConfigError(
                    f"a table of source `{sname}` needs `name:`", location=loc_of(table)
                )
            uid = f"source.{self.config.name}.{sname}.{tname}"
            if uid in self.project.nodes:
                raise ConfigError(
                    f"source table `{sname}.{tname}` is declared twice",
                    location=loc_of(table, "name"),
                )
            identifier = str(table.get("identifier") or tname)
            node = Node(
                unique_id=uid,
                name=str(tname),
                resource_type="source",
                path=table.path,
                line=table.line,
                package=self.config.name,
                fqn=[self.config.name, str(sname), str(tname)],
                description=str(table.get("description") or ""),
                config=self._config(src, table)
                | connector_config(src, table, self.scope.root / self.config.raw_data),
                columns=read_columns(table),
                relation=Relation(schema=schema, identifier=identifier),
                source_name=str(sname),
                files=file_spec(table),
                loaded_at_field=table.get("loaded_at_field", src.get("loaded_at_field")),
                freshness=merge_freshness(src.get("freshness"), table["freshness"])
                if "freshness" in table
                else src.get("freshness"),
                meta=dict(table.get("meta") or {}),
            )
            external = external_location(src, table, node)
            if external is not None:
                node.relation = Relation(schema=schema, identifier=identifier, external=external)
            self.project.nodes[uid] = node
            self.tests.add_tests(node, table)

    def _lake(self, src: YMap, table: YMap, config: dict[str, Any]) -> None:
        """`format: delta | iceberg | parquet` (of the table or its source), `location`,
        `version` and `as_of`: the table is an existing lake table (`file_format` in the node's
        config, read by `headwater.materialize.lake.LakeSource`)."""
        fmt = table.get("format", src.get("format"))
        if fmt is None:
            for key in ("location", "version", "as_of"):
                if table.get(key) is not None:
                    raise ConfigError(
                        f"`{key}` of source table `{src.get('name')}.{table.get('name')}` needs "
                        "`format:`",
                        location=loc_of(table, key),
                        hint="add `format: delta` (or iceberg, parquet) beside it",
                    )
            return
        if str(fmt).lower() not in LAKE_FORMATS:
            raise ConfigError(
                f"unknown `format: {fmt}` for source table `{src.get('name')}.{table.get('name')}`"
                + did_you_mean(str(fmt), LAKE_FORMATS),
                location=loc_of(table, "format") if "format" in table else loc_of(src, "format"),
                hint="use one of: "
                + ", ".join(LAKE_FORMATS)
                + " (plain files loaded into the warehouse are `files:`)",
            )
        if table.get("files") is not None or config.get("connector"):
            raise ConfigError(
                f"source table `{src.get('name')}.{table.get('name')}` has `format:` and "
                "`files:` or a connector",
                location=loc_of(table, "format") if "format" in table else loc_of(table),
                hint="a lake table is read where it is: drop `files:` / the connector",
            )
        config["file_format"] = str(fmt).lower()
        for key in ("location", "version", "as_of"):
            if table.get(key) is not None:
                config[key] = table.get(key)

    def _config(self, src: YMap, table: YMap) -> dict[str, Any]:
        """dbt's source configs (`enabled`, `event_time`, `meta`, `freshness`, ...) from the source
        and then the table, plus the tags of both."""
        config: dict[str, Any] = {}
        for level in (src, table):
            cfg = level.get("config") or {}
            expect_type(cfg, dict, "`config`", level, "config")
            check_keys(cfg, SOURCE_CONFIG_KEYS, "the config of a source")
            merge_config(config, dict(cfg))
        for level in (src, table):
            for key in OBSERVE_KEYS:
                if level.get(key) is not None:
                    config[key] = level.get(key)
        self._lake(src, table, config)
        config["tags"] = (
            as_list(src.get("tags"))
            + as_list(table.get("tags"))
            + [
                t
                for t in as_list(config.get("tags"))
                if t not in as_list(src.get("tags")) + as_list(table.get("tags"))
            ]
        )
        return config
