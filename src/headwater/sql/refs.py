"""dbt's rules for what `ref()` and `source()` name: the calling node's package first, then the
root project, then any package; a versioned model's latest version unless `v=` names one.

Used at compile time (`headwater.sql.compiler`) and when a node is rendered again at run time
(`headwater.sql.runtime`).
"""

from __future__ import annotations

from typing import Protocol

from headwater.project.definition import Node


class Caller(Protocol):
    """The node a `ref()` comes from: only its package matters."""

    @property
    def package(self) -> str: ...


class PackageAnchor:
    """A stand-in for the calling node when only its package is known (unit tests)."""

    def __init__(self, package: str) -> None:
        self.package = package


def find_ref(
    by_name: dict[str, list[Node]],
    root: str,
    name: str,
    package: str | None,
    version: str | None,
    node: Caller,
) -> Node | None:
    """dbt's ref resolution: the calling node's package, then the root project, then any
    package; a versioned model's `latest_version` unless `v=` names one."""
    candidates = by_name.get(name, [])
    if package is not None:
        candidates = [c for c in candidates if c.package == package]
    if not candidates:
        return None
    order = {node.package: 0, root: 1}
    candidates = sorted(candidates, key=lambda c: order.get(c.package, 2))
    first_package = candidates[0].package
    candidates = [c for c in candidates if c.package == first_package]
    if version is not None:
        return next((c for c in candidates if c.version == str(version)), None)
    if len(candidates) == 1:
        return candidates[0]
    latest = candidates[0].config.get("_latest_version")
    if latest is not None:
        return next((c for c in candidates if c.version == str(latest)), None)
    return max(candidates, key=lambda c: _version_key(c.version))


def find_source(
    nodes: dict[str, Node], packages: list[str], source: str, table: str
) -> Node | None:
    """A source table as `source()` names it, in the calling node's package first (``packages``)."""
    for package in packages:
        found = nodes.get(f"source.{package}.{source}.{table}")
        if found is not None:
            return found
    return None


def _version_key(version: str | None) -> tuple[int, float | str]:
    try:
        return (1, float(version or 0))
    except ValueError:
        return (0, str(version))
