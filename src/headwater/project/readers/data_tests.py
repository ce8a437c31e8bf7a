"""Test nodes: the generic tests (`data_tests:`) and expectations (`expectations:`) properties
files declare on models, seeds, snapshots, sources and columns, and singular tests (`.sql` files
under the test paths).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from headwater.errors import ConfigError, Location
from headwater.project.definition import CheckSpec, Node
from headwater.project.readers.base import Reader
from headwater.project.test_specs import (
    dbt_test_names,
    expectation_entries,
    kwargs_suffix,
    parse_test_spec,
    split_expectation_config,
    test_entries,
)
from headwater.project.thresholds import parse_threshold
from headwater.project.validate import as_list


class DataTestReader(Reader):
    """Adds the test nodes of a package."""

    def add_tests(self, node: Node, entry: Any) -> None:
        """The tests and expectations of a properties entry (and of its columns) on ``node``."""
        for spec, where in test_entries(entry, None):
            self._add_generic_test(node, spec, where, None)
        for spec, where in expectation_entries(entry):
            self._add_expectation(node, spec, where, None)
        for col in as_list(entry.get("columns")):
            for spec, where in test_entries(col, col.get("name")):
                self._add_generic_test(node, spec, where, str(col.get("name")))
            for spec, where in expectation_entries(col):
                self._add_expectation(node, spec, where, str(col.get("name")))

    def read_singular(self) -> None:
        """`.sql` files under the test paths (not under `generic/`): one test each."""
        generic = [self.scope.base / d for d in self.scope.generic_test_dirs()]
        for path in self.scope.glob(self.config.test_paths, (".sql",)):
            if any(path.is_relative_to(g) for g in generic):
                continue  # generic tests: read with the macros
            name = path.stem
            uid = f"test.{self.config.name}.{name}"
            rel = self.scope.rel(path)
            if uid in self.project.nodes:
                raise ConfigError(f"two tests are named `{name}`", location=Location(rel))
            tconfig: dict[str, Any] = {"severity": "error"}
            tconfig.update(self.scope.folder_config(self.config.tests, [], "tests"))
            self.project.nodes[uid] = Node(
                unique_id=uid,
                name=name,
                resource_type="test",
                path=rel,
                line=1,
                package=self.config.name,
                fqn=[self.config.name, name],
                raw_sql=self.scope.read_text(path),
                config=tconfig,
                test=CheckSpec(name="singular", kind="singular"),
            )

    def _add_expectation(
        self, node: Node, spec: Any, where: Location | None, column: str | None
    ) -> None:
        """An `expectations:` entry: a Great Expectations expectation run as a check of ``node``."""
        parse = self.scope.parse_expectation
        if parse is None:
            raise TypeError(
                "reading `expectations:` needs an expectation parser: give ProjectReader "
                "`parse_expectation=` (headwater.quality.expectations.parse_expectation)"
            )
        spec, config = split_expectation_config(spec, where)
        expectation = parse(spec, column=column, location=where, node=node.display_name)
        config["severity"] = {"critical": "error"}.get(expectation.severity, "warn")
        self._add_test_node(
            node,
            expectation.type,
            {"expectation": expectation.to_json_dict()},
            config,
            where,
            column,
            kind="expectation",
            suffix_kwargs={k: v for k, v in expectation.kwargs.items() if k != "column"},
        )

    def _add_generic_test(
        self, node: Node, spec: Any, where: Location | None, column: str | None
    ) -> None:
        test_name, kwargs, config = parse_test_spec(spec, where)
        if "name" not in config:
            full, short = dbt_test_names(node, test_name, kwargs, column)
            config["name"] = full
            if short != full:
                config.setdefault("alias", short)  # dbt's name of its store_failures table
        self._add_test_node(node, test_name, kwargs, config, where, column)

    def _add_test_node(
        self,
        node: Node,
        test_name: str,
        kwargs: dict[str, Any],
        config: dict[str, Any],
        where: Location | None,
        column: str | None,
        kind: str = "generic",
        suffix_kwargs: dict[str, Any] | None = None,
    ) -> None:
        target = node.display_name.replace(".", "_")
        prefix = "source_" if node.resource_type == "source" else ""
        base = f"{prefix}{test_name.split('.')[-1]}_{target}" + (f"_{column}" if column else "")
        suffix = kwargs_suffix(kwargs if suffix_kwargs is None else suffix_kwargs)
        name = config.pop("name", None) or (f"{base}__{suffix}" if suffix else base)
        if kind != "generic":
            name = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")[:120]
        uid = f"test.{self.config.name}.{name}"
        if uid in self.project.nodes:  # as dbt: the same name, told apart by a hash in the id
            digest = hashlib.md5(
                repr((node.unique_id, test_name, sorted(kwargs.items(), key=str), column)).encode()
            )
            base_uid, n = f"{uid}.{digest.hexdigest()[:10]}", 2
            uid = base_uid
            while uid in self.project.nodes:  # the very same test declared twice
                uid, n = f"{base_uid}_{n}", n + 1
        tconfig: dict[str, Any] = {"severity": "error"}
        tconfig.update(self.scope.folder_config(self.config.tests, [], "tests"))
        tconfig.update(config)
        for key in ("warn_if", "error_if"):
            if key in tconfig:
                try:
                    parse_threshold(tconfig[key])
                except ConfigError as exc:
                    raise ConfigError(
                        exc.message, location=where, node=node.display_name, hint=exc.hint
                    ) from None
        self.project.nodes[uid] = Node(
            unique_id=uid,
            name=name,
            resource_type="test",
            path=where.path if where else node.path,
            line=where.line if where else None,
            package=self.config.name,
            fqn=[self.config.name, *node.fqn[1:-1], name],
            config=tconfig,
            test=CheckSpec(
                name=test_name, kwargs=kwargs, column=column, attached_to=node.unique_id, kind=kind
            ),
            depends_on=[node.unique_id],
        )
