"""Semantic versions for hub packages: `Version` (semver precedence), `VersionRange` (one
`>=1.0.0`-style requirement), `parse_versions` (a `version:` entry as ranges) and `pick_version`
(the highest available version satisfying every range, dbt's prerelease rule)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import total_ordering
from typing import Any

_VERSION = re.compile(
    r"v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)|([A-Za-z][0-9A-Za-z-]*(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z.-]+)?"
)
_RANGE = re.compile(r"\s*(>=|<=|>|<|==|=)?\s*(\S+)\s*")


@total_ordering
@dataclass(frozen=True)
class Version:
    """A semantic version (`1.2.3`, `1.0.0-rc.1`), ordered by semver precedence; build metadata
    (`+...`) is ignored and a missing minor or patch is 0."""

    major: int
    minor: int = 0
    patch: int = 0
    prerelease: tuple[int | str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.fullmatch(str(text).strip())
        if not match:
            raise ValueError(f"`{text}` is not a version like 1.2.3")
        major, minor, patch, dashed, bare = match.groups()
        pre = dashed or bare
        parts = tuple(int(p) if p.isdigit() else p for p in pre.split(".")) if pre else ()
        return cls(int(major), int(minor or 0), int(patch or 0), parts)

    def _key(self) -> tuple[Any, ...]:
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, not self.prerelease, pre)

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __str__(self) -> str:
        pre = "-" + ".".join(map(str, self.prerelease)) if self.prerelease else ""
        return f"{self.major}.{self.minor}.{self.patch}{pre}"


@dataclass(frozen=True)
class VersionRange:
    """One requirement: an operator (`=`, `>`, `>=`, `<`, `<=`) and a version."""

    op: str
    version: Version

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        match = _RANGE.fullmatch(str(text))
        if not match:
            raise ValueError(f"`{text}` is not a version range like >=1.0.0")
        op = match.group(1) or "="
        return cls("=" if op == "==" else op, Version.parse(match.group(2)))

    def allows(self, version: Version) -> bool:
        if self.op == "=":
            return version == self.version
        if self.op == ">":
            return version > self.version
        if self.op == ">=":
            return version >= self.version
        if self.op == "<":
            return version < self.version
        return version <= self.version

    def __str__(self) -> str:
        return ("" if self.op == "=" else self.op) + str(self.version)


def parse_versions(value: Any) -> tuple[str, ...]:
    """A hub entry's `version:` as a tuple of ranges: a list, or a string split at commas."""
    items = list(value) if isinstance(value, list | tuple) else str(value).split(",")
    out = tuple(str(v).strip() for v in items if str(v).strip())
    for item in out:
        VersionRange.parse(item)
    return out


def pick_version(
    available: Iterable[str], ranges: Iterable[str | VersionRange], *, prerelease: bool = False
) -> str | None:
    """The highest of ``available`` that satisfies every range, or None.

    Prereleases are candidates only with ``prerelease=True`` or when a range names one (dbt's
    rule); unparsable versions are skipped.

    >>> pick_version(["0.9.0", "1.2.0", "1.10.0", "2.0.0"], [">=1.0.0", "<2.0.0"])
    '1.10.0'
    """
    parsed = [r if isinstance(r, VersionRange) else VersionRange.parse(r) for r in ranges]
    allow_pre = prerelease or any(r.version.prerelease for r in parsed)
    best: tuple[Version, str] | None = None
    for text in available:
        try:
            version = Version.parse(text)
        except ValueError:
            continue
        if version.prerelease and not allow_pre:
            continue
        if all(r.allows(version) for r in parsed) and (best is None or version > best[0]):
            best = (version, text)
    return best[1] if best else None
