"""Errors raised by headwater.

Every mistake a user can make raises a subclass of `HeadwaterError` whose message says what was
received, what was expected, where (file:line) and what to do next. The CLI prints the message
without a traceback (unless ``-v``) and exits with the error's ``exit_code``.

The tree::

    HeadwaterError                      exit 1 unless stated
    ├── UsageError (ValueError)         exit 2: bad command-line arguments or selection
    │   └── SelectionError
    ├── ConfigError (ValueError)        exit 2: a project file is invalid
    │   ├── YamlError                   the YAML does not parse
    │   ├── UnknownKeyError             a key that headwater does not know ("did you mean ...?")
    │   ├── ProjectNotFoundError        no headwater.yml / dbt_project.yml
    │   ├── TargetNotFoundError
    │   ├── NodeNotFoundError           unknown ref() / source() / selection name
    │   ├── CycleError                  the graph has a cycle (the full path is in the message)
    │   ├── CompilationError            Jinja or SQL that does not parse
    │   └── EngineNotFoundError         unknown or uninstalled engine
    ├── ExecutionError                  exit 1: a node failed while running
    │   ├── ConflictError               another writer committed first (retried)
    │   ├── SQLExecutionError           the engine rejected a statement (the SQL is kept)
    │   │   └── CommittedError          ...after committing it: the change is published
    │   └── CheckFailed                 an error-level check failed (write-audit-publish stopped)
    └── LockError                       another run holds the project's lock

`TransientError` is a marker mixed into errors that a retry may cure (a lost connection);
`TerminalError` marks errors that no retry will cure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Location:
    """A place in a project file: path relative to the project, 1-based line and column."""

    path: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        out = self.path
        if self.line:
            out += f":{self.line}"
            if self.column:
                out += f":{self.column}"
        return out


class HeadwaterError(Exception):
    """Base of every error headwater raises on purpose."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        node: str | None = None,
        hint: str | None = None,
        query: str | None = None,
        snippet: str | None = None,
    ) -> None:
        from headwater.secrets import mask

        self.message = mask(message)
        self.location = location
        self.node = node
        self.hint = mask(hint) if hint else hint
        self.query = mask(query) if query else query
        self.snippet = mask(snippet) if snippet else snippet
        super().__init__(self.render())

    def render(self) -> str:
        parts = []
        head = ""
        if self.location:
            head += f"{self.location}: "
        if self.node:
            head += f"[{self.node}] "
        parts.append(head + self.message)
        if self.snippet:
            parts.append(self.snippet)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a command: running statements were aborted and rolled back."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(self.signal_name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class TransientError:
    """Marker: a retry may succeed."""


class TerminalError:
    """Marker: a retry will not succeed."""


class UsageError(HeadwaterError, ValueError):
    exit_code = 2


class SelectionError(UsageError):
    pass


class ConfigError(HeadwaterError, ValueError):
    exit_code = 2


class ProjectProblems(ConfigError):
    """Several parts of a project could not be loaded: each is listed with its file and line."""

    def __init__(self, problems: list[HeadwaterError]) -> None:
        self.problems = problems
        lines = [f"{len(problems)} problems in the project:"]
        lines += ["- " + p.render().replace("\n", "\n  ") for p in problems]
        super().__init__("\n".join(lines))


class YamlError(ConfigError):
    pass


class UnknownKeyError(ConfigError):
    pass


class ProjectNotFoundError(ConfigError):
    pass


class TargetNotFoundError(ConfigError):
    pass


class NodeNotFoundError(ConfigError):
    pass


class CycleError(ConfigError):
    def __init__(self, cycle: list[str], **kwargs: Any) -> None:
        self.cycle = cycle
        kwargs.setdefault("hint", "remove one of these ref()/source() dependencies")
        super().__init__("the graph has a cycle: " + " -> ".join(cycle), **kwargs)


class CompilationError(ConfigError):
    pass


class EngineNotFoundError(ConfigError):
    pass


class ExecutionError(HeadwaterError):
    exit_code = 1


class ConflictError(ExecutionError):
    """Another writer committed first (optimistic concurrency, e.g. a lake table's
    compare-and-swap commit): computing the change again from the new version may succeed, so
    the runner retries it like an engine's transient failure."""


class SQLExecutionError(ExecutionError, TerminalError):
    sqlstate: str | None = None
    """The SQLSTATE of the failure where the engine reports one (PostgreSQL), for `is_transient`."""


class CommittedError(SQLExecutionError):
    """The statement's change was committed (durable), but the engine failed right after it (DuckDB:
    the automatic checkpoint on a full disk): report the change as published, not as failed."""


class CheckFailed(ExecutionError):
    pass


class LockError(HeadwaterError):
    exit_code = 1


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return ``" (did you mean `a` or `b`?)"`` for the closest candidates, or ``""``."""
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"`{c}`" for c in close) + "?)"


def code_snippet(text: str, line: int, column: int | None = None, context: int = 1) -> str:
    """Render lines around ``line`` (1-based) with a caret under ``column``."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    start = max(1, line - context)
    width = len(str(min(len(lines), line + context)))
    out = []
    for no in range(start, min(len(lines), line + context) + 1):
        out.append(f"  {no:>{width}} | {lines[no - 1]}")
        if no == line and column:
            out.append("  " + " " * width + " | " + " " * (column - 1) + "^")
    return "\n".join(out)
