"""What the readers of one package share: the `ReadScope` (its config, its folder, the `Project`
being filled) with file helpers, and the `Reader` base class.

A *package* here is the root project or one installed package: `headwater.project.loader` gives
each its own scope, all filling the same `Project`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from headwater.errors import ConfigError, HeadwaterError, Location
from headwater.project.definition import Project, ProjectConfig, Target
from headwater.project.readers.config_tree import check_folder_tree, folder_config
from headwater.project.test_specs import ExpectationParser, StreamParser

T = TypeVar("T")


def file_hash(data: bytes) -> str:
    """The content hash of a file, as `Project.files` and `Node.checksum` keep it."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


@dataclass
class ReadScope:
    """One package being read into ``project``."""

    config: ProjectConfig
    """The package's project file: the root project's, or an installed package's."""
    target: Target
    root: Path
    """The project root: every path in errors and hashes is relative to it."""
    base: Path
    """The folder read: the project root, or an installed package's folder."""
    project: Project
    root_config: ProjectConfig | None = None
    """For an installed package: the root project's config (its `models: <package>:` trees)."""
    parse_expectation: ExpectationParser | None = None
    """Validates `expectations:` entries (the quality layer's parser, given by the caller)."""
    parse_stream: StreamParser | None = None
    """Validates `streams:` entries (the stream layer's parser, given by the caller)."""

    def guard(self, action: Callable[[], T]) -> T | None:
        """Run ``action``; a `HeadwaterError` becomes a problem of the load, and reading goes on."""
        try:
            return action()
        except HeadwaterError as exc:
            self.project.problems.append(exc)
            return None

    # -- files ------------------------------------------------------------------------------
    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def read_text(self, path: Path) -> str:
        """The file's text (UTF-8), its hash kept in `Project.files`."""
        data = path.read_bytes()
        self.project.files[self.rel(path)] = file_hash(data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"file is not UTF-8 text: {exc}", location=Location(self.rel(path))
            ) from None

    def glob(self, dirs: list[str], suffixes: tuple[str, ...]) -> list[Path]:
        """Files under the package's folders ``dirs`` with one of ``suffixes``, sorted per folder."""
        out: list[Path] = []
        for d in dirs:
            base = self.base / d
            if base.is_dir():
                out.extend(
                    p for p in sorted(base.rglob("*")) if p.suffix in suffixes and p.is_file()
                )
        return out

    def generic_test_dirs(self) -> list[str]:
        """dbt 1.5+: generic tests may live in `<test path>/generic/`, read like macros."""
        return [f"{d}/generic" for d in self.config.test_paths]

    # -- folder configs ---------------------------------------------------------------------
    def root_tree(self, kind: str) -> dict[str, Any]:
        """For a package: the root project's `models: <package>: ...` tree (it overrides the
        package's own)."""
        if self.root_config is None:
            return {}
        tree = getattr(self.root_config, kind, {}) or {}
        sub = tree.get(self.config.name)
        return sub if isinstance(sub, dict) else {}

    def folder_config(
        self, tree: dict[str, Any], folders: list[str], kind: str, name: str | None = None
    ) -> dict[str, Any]:
        """The `+key` configs of ``tree`` along ``folders`` (and the node ``name``)."""
        return folder_config(tree, folders, kind, name, self.config.name, self.root_tree(kind))

    def check_folder_tree(self, tree: dict[str, Any], paths: list[str], kind: str) -> None:
        """A key under `models:` that nearly names an existing folder is a typo: an error."""
        check_folder_tree(tree, [self.base / p for p in paths], kind, self.config.name)


class Reader:
    """Reads one kind of resource of a package into its `Project`."""

    def __init__(self, scope: ReadScope) -> None:
        self.scope = scope
        self.config = scope.config
        self.project = scope.project
