"""What `install` returns: `DepsResult` and the `InstalledPackage` entries in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from headwater.project.deps.specs import Kind


@dataclass(frozen=True)
class InstalledPackage:
    """A package as installed (or locked, with ``lock_only``)."""

    name: str
    """Its project name: the folder under the install path."""
    kind: Kind
    source: str
    """hub `org/name`, the git or tarball URL (masked), or the local path."""
    version: str | None
    """hub: the exact version; git: the commit SHA; tarball and local: None."""
    path: Path | None
    """The installed folder (a symlink for `local:`); None when only the lock was written."""


@dataclass
class DepsResult:
    packages: list[InstalledPackage]
    install_path: Path
    lock_path: Path
    lock_written: bool
    from_lock: bool
    """True when package-lock.yml matched packages.yml and its versions were installed."""
    installed: bool
    """False with ``lock_only``."""
    removed: list[str] = field(default_factory=list)
    """Folders of packages no longer required, removed from the install path."""
    warnings: list[str] = field(default_factory=list)
    updates: dict[str, str] = field(default_factory=dict)
    """hub package -> a newer version than the one installed."""
