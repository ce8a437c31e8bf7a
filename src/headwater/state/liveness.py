"""Lock files that tell a running invocation from one whose process died.

A running invocation holds an exclusive `flock` on `<folder>/<invocation id>.lock`, taken before
its row says `running` and released after its row says how it ended. A process that dies holding
it (SIGKILL, power loss) releases the lock with it, so the next store opened finds a `running`
row whose lock it can take, and marks that run `killed` — or, when the run ended but could not
write its status (disk full), the status it left in the lock file.

The files are on this machine: a store whose runs other machines also record (`state:
warehouse`) judges only the runs it has a lock file for (``missing_is_dead=False``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no liveness check, runs left `running` stay so
    fcntl = None  # type: ignore[assignment]  # the module is absent there

FINAL_STATUSES = frozenset({"success", "failed", "error", "interrupted"})


class RunLocks:
    """The lock files of one store's running invocations, in ``folder``."""

    def __init__(self, folder: Path, missing_is_dead: bool = True) -> None:
        self.folder = folder
        self.missing_is_dead = missing_is_dead
        """A `running` invocation without a lock file was recorded by a headwater that kept
        none (SQLite: it is dead), or by another machine (the warehouse: not ours to judge)."""
        self._held: dict[str, int] = {}  # invocation id -> fd of its lock file

    def path(self, invocation_id: str) -> Path:
        return self.folder / f"{invocation_id}.lock"

    def hold(self, invocation_id: str) -> None:
        """Take the lock of a starting invocation (OSError: no room for the file)."""
        if fcntl is None:
            return
        from headwater.private import private_dir

        path = self.path(invocation_id)
        private_dir(path.parent)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._held[invocation_id] = fd
        os.write(fd, f"{os.getpid()}\n".encode())

    def release(self, invocation_id: str, status: str | None = None) -> None:
        """Let go of the lock file; with ``status`` (the row could not be updated) leave the file
        with the status in it, for the next store to record."""
        fd = self._held.pop(invocation_id, None)
        if fd is None:
            return
        if status is None:
            self.path(invocation_id).unlink(missing_ok=True)
        else:
            with contextlib.suppress(OSError):  # the file's first block exists: no new space needed
                os.pwrite(fd, f"{os.getpid()}\n{status}\n".encode(), 0)
        os.close(fd)

    def ended(self, invocation_id: str) -> str | None:
        """None while the process of ``invocation_id`` holds its lock file (or when it is not
        ours to judge); else how it ended: the status written into the file, or `killed`."""
        if fcntl is None or invocation_id in self._held:
            return None
        path = self.path(invocation_id)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return "killed" if self.missing_is_dead else None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None
        else:
            lines = os.pread(fd, 200, 0).decode("ascii", "replace").split()
            return lines[1] if len(lines) > 1 and lines[1] in FINAL_STATUSES else "killed"
        finally:
            os.close(fd)

    def remove_orphans(self, running: set[str]) -> None:
        """Delete the lock files of dead runs whose row was never written."""
        if not self.folder.is_dir():
            return
        for orphan in self.folder.glob("*.lock"):
            if orphan.stem not in running and self.ended(orphan.stem) is not None:
                orphan.unlink(missing_ok=True)

    def forget(self, invocation_id: str) -> None:
        self.path(invocation_id).unlink(missing_ok=True)

    def close(self) -> None:
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()
