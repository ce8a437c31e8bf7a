"""`connector: dlt` — any dlt source or resource as a headwater source.

dlt (https://dlthub.com) has hundreds of verified sources. headwater runs the resource's
generator in-process and loads what it yields with its own loader (same warehouse, same
exactly-once state, schema contracts and rejects); dlt's pipeline and destinations are not used.

    sources:
      - name: github
        connector: dlt
        connection: {source: "my_pkg.github:github_source", args: {org: dlt-hub}}
        tables:
          - name: issues            # the resource's name (or `resource:`)
            extract: {write_disposition: merge}   # primary_key comes from the resource's hints

Items may be dicts, lists of dicts, Arrow tables or pandas DataFrames. The resource's
`primary_key` and `write_disposition` hints are used unless the table's `extract:` sets them.
State kept by `dlt.sources.incremental` lives in dlt's pipeline state, which is not used here:
such resources extract in full; use `write_disposition: merge` to keep loads idempotent.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from headwater.errors import ConfigError
from headwater.extract.base import Batch, Connector, ConnectorError, ExtractState, register


@register
class DltConnector(Connector):
    kind = "dlt"
    required = ("source",)
    optional = ("args", "resource", "chunk_size")
    _cached: Any = None
    """The dlt resource, once made (dlt is an optional dependency: its objects are untyped here)."""

    def _resource(self) -> Any:
        if self._cached is not None:
            return self._cached
        try:
            import dlt  # noqa: F401 - fails early with a clear message when the extra is missing
        except ImportError:
            raise ConfigError(
                f"source `{self.name}` uses dlt, which is not installed",
                hint='pip install "headwater[dlt]"',
            ) from None
        target = str(self.config["source"])
        module_name, _, attr = target.partition(":")
        if not attr:
            raise ConfigError(
                f"source `{self.name}`: `source: {target}` must be `package.module:callable`"
            )
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"source `{self.name}`: cannot import `{target}`: {exc}",
                hint="check the module path (it must be importable from the project's Python environment)",
            ) from None
        made = obj(**dict(self.config.get("args") or {})) if callable(obj) else obj
        resources = getattr(made, "resources", None)
        if resources is not None:  # a DltSource: pick the resource
            name = str(self.config.get("resource") or self.table)
            if name not in resources:
                from headwater.errors import did_you_mean

                raise ConfigError(
                    f"dlt source `{target}` has no resource `{name}`"
                    + did_you_mean(name, list(resources)),
                    hint="resources: "
                    + ", ".join(resources)
                    + "; set `resource:` under the table's `extract:`",
                )
            made = resources[name]
        self._cached = made
        return made

    def hints(self) -> dict[str, Any]:
        resource = self._resource()
        out: dict[str, Any] = {}
        try:
            schema = resource.compute_table_schema()
        except Exception:  # a plain generator has no hints
            return out
        disposition = schema.get("write_disposition")
        if disposition in ("append", "replace", "merge"):
            out["write_disposition"] = disposition
        keys = [
            name for name, col in (schema.get("columns") or {}).items() if col.get("primary_key")
        ]
        if keys:
            out["primary_key"] = keys if len(keys) > 1 else keys[0]
        return out

    def extract(self, state: ExtractState) -> Iterator[Batch]:
        import pyarrow as pa

        size = int(self.config.get("chunk_size") or 50_000)
        rows: list[dict[str, Any]] = []
        try:
            for item in self._resource():
                if isinstance(item, pa.Table):
                    if rows:
                        yield Batch(pa.Table.from_pylist(rows), final=False)
                        rows = []
                    yield Batch(item, final=False)
                    continue
                if hasattr(item, "to_dict") and hasattr(item, "columns"):  # pandas DataFrame
                    item = item.to_dict("records")
                rows.extend(item if isinstance(item, list) else [item])
                if len(rows) >= size:
                    yield Batch(pa.Table.from_pylist(rows), final=False)
                    rows = []
        except ConfigError:
            raise
        except Exception as exc:
            raise ConnectorError(
                f"the dlt resource of `{self.name}` failed: {type(exc).__name__}: {exc}",
                node=self.name,
            ) from None
        if rows:
            yield Batch(pa.Table.from_pylist(rows))
