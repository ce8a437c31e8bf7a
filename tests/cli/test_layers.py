"""The CLI is a thin top layer: nothing below it imports it, `Context` hears runs through a
plain `RunListener`, and the parser still offers every command the README names."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import headwater

SRC = Path(headwater.__file__).parent
README = SRC.parents[1] / "README.md"


def _imports_cli(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        if any(n == "headwater.cli" or n.startswith("headwater.cli.") for n in names):
            return True
    return False


def test_nothing_below_the_cli_imports_it() -> None:
    offenders = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] not in ("cli", "__main__.py") and _imports_cli(path)
    }
    assert not offenders, sorted(offenders)


def test_the_api_runs_without_the_cli(make_project) -> None:
    root = make_project({"models/a.sql": "select 1 as x"})
    code = (
        "import sys; from headwater.context import Context\n"
        f"ctx = Context({str(root)!r}); assert ctx.build().exit_code == 0\n"
        "assert ctx.lineage('a').node == 'model.t.a'; ctx.close()\n"
        "print(sorted(m for m in sys.modules if m.startswith('headwater.cli')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_parser_has_every_command_of_the_readme() -> None:
    import headwater.cli
    from headwater.cli import build_parser, main  # the public names

    assert callable(main) and headwater.cli.__all__ == ["build_parser", "main"]
    named = set(re.findall(r"^\| `headwater (\w+)", README.read_text(encoding="utf-8"), re.M))
    assert {"build", "validate", "lineage", "status", "freshness", "metrics"} <= named
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    assert named <= set(sub.choices)


def test_every_command_has_a_handler(cli) -> None:
    from headwater.cli.main import _build

    parser, handlers = _build()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    assert set(handlers) == set(sub.choices)
    res = cli()
    assert res.code == 2 and "lineage" in res.out
