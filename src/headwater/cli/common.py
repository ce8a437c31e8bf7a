"""What every command shares: the common options, `--vars`, the `Context` of a command's
arguments and the console its progress goes to.

Command modules (`headwater.cli.commands.*`) expose ``add_commands(subparsers, common) ->
{name: handler}``; a handler takes the parsed arguments and returns the exit code. Nothing here imports a heavy
module: building the parser stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from headwater.errors import UsageError

if TYPE_CHECKING:
    from headwater.cli.render.console import PlainConsole
    from headwater.context import Context
    from headwater.runner.events import RunListener

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

Handler: TypeAlias = Callable[[argparse.Namespace], int]
"""A command: the parsed arguments in, the exit code out."""

AddOptions: TypeAlias = Callable[[argparse.ArgumentParser], None]


def common(p: argparse.ArgumentParser) -> None:
    """--project-dir, --target, --vars and --verbose, on the main parser and every command (a
    command's value wins; SUPPRESS keeps the main parser's otherwise)."""
    p.add_argument(
        "--project-dir",
        default=argparse.SUPPRESS,
        help="project folder (default: current directory)",
    )
    p.add_argument("--target", "-t", default=argparse.SUPPRESS, help="target from headwater.yml")
    p.add_argument("--vars", default=argparse.SUPPRESS, help="YAML/JSON mapping overriding `vars`")
    p.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )


def selection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-s", "--select", nargs="+", action="extend", help="nodes to include (dbt syntax)"
    )
    p.add_argument("--exclude", nargs="+", action="extend", help="nodes to leave out")


def parse_vars(args: argparse.Namespace) -> dict[str, Any]:
    """The mapping of `--vars` (YAML or JSON); `UsageError` for anything else."""
    text = getattr(args, "vars", None)
    if not text:
        return {}
    import yaml

    try:
        value = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # and impossible dates
        raise UsageError(
            f"--vars is not valid YAML: {exc}", hint="write e.g. --vars '{start: 2025-01-01}'"
        ) from None
    if not isinstance(value, dict):
        raise UsageError("--vars must be a mapping", hint="write e.g. --vars '{start: 2025-01-01}'")
    return value


def project_dir(args: argparse.Namespace) -> str:
    """--project-dir, or the current folder."""
    return getattr(args, "project_dir", None) or os.getcwd()


def context_for(
    args: argparse.Namespace, console: RunListener | None = None, *, report: bool = True
) -> Context:
    """The `Context` of a command's arguments (--project-dir, --target, --vars). With
    ``report``, the project's load problems and the context's warnings are printed when the
    command ends."""
    from headwater.context import Context

    ctx = Context(
        project_dir(args),
        target=getattr(args, "target", None),
        vars=parse_vars(args),
        console=console,
    )
    if report:
        CONTEXTS.append(ctx)
    return ctx


CONTEXTS: list[Context] = []
"""The contexts of the running command, whose errors and warnings are printed when it ends."""


def print_warnings() -> None:
    """Print (and forget) the load problems and warnings of the command's contexts."""
    while CONTEXTS:
        ctx = CONTEXTS.pop()
        for text in ctx.errors:
            error(text)
        for text in ctx.warnings:
            print(f"warning: {text}", file=sys.stderr)


def error(text: str) -> None:
    """An error line on stderr (`error:` in red on a terminal)."""
    if sys.stderr.isatty():
        print(f"\033[31merror:\033[0m {text}", file=sys.stderr)
    else:
        print(f"error: {text}", file=sys.stderr)


def console_for(args: argparse.Namespace) -> PlainConsole:
    """The console of a run-like command: none with --json, live progress on a terminal, plain
    lines otherwise."""
    from headwater.cli.render.console import make_console

    return make_console(bool(getattr(args, "json", False)))
