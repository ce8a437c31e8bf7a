"""Every command a new user is told to run works: the README's shell and Python blocks, and the
commands `headwater demo` prints when it finishes, each run as its own process, as a user would."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(lang: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(rf"```{lang}\n(.*?)```", text, re.S)]


def _shell_commands() -> list[str]:
    """`headwater …` and `cd …` lines of the README's bash blocks (after `&&` for chained ones)."""
    out = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith(("headwater ", "cd ")) or part == "headwater":
                    out.append(part)
    return out


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command, comments=True)
    assert argv[0] == "headwater", command
    return subprocess.run([sys.executable, "-m", "headwater", *argv[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The README's first command, `headwater demo`, in an empty folder."""
    first = _shell_commands()[0]
    assert first == "headwater demo", (
        "the README's quick start should begin with `pip install . && headwater demo`"
    )
    cwd = tmp_path_factory.mktemp("user")
    res = _run(first, cwd)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return cwd, res.stdout


def test_readme_shell_commands_run(quick_start: tuple[Path, str]) -> None:
    cwd, _ = quick_start
    commands = _shell_commands()[1:]
    assert len(commands) >= 5
    for command in commands:
        if command.startswith("cd "):
            cwd = cwd / command[3:].strip()
            assert cwd.is_dir(), command
            continue
        res = _run(command, cwd)
        assert res.returncode == 0, f"{command}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
        if command.startswith("headwater query"):
            assert re.search(r"\(\d+ rows?\)", res.stdout) and "(0 rows)" not in res.stdout, (
                res.stdout
            )


def test_commands_the_demo_prints_run(quick_start: tuple[Path, str]) -> None:
    cwd, out = quick_start
    lines = out.split("\nNext:\n", 1)[1].splitlines()
    assert lines[0].strip().startswith("cd ")
    cwd = Path(lines[0].strip()[3:])
    commands = [line.strip() for line in lines[1:] if line.strip().startswith("headwater ")]
    assert len(commands) >= 5
    for command in commands:
        res = _run(command, cwd)
        assert res.returncode == 0, f"{command}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
        if "--report" in command:
            assert (cwd / command.split("--report", 1)[1].split()[0]).is_file()


def test_readme_python_blocks_run(quick_start: tuple[Path, str]) -> None:
    cwd, _ = quick_start
    blocks = [b for b in _blocks("python") if "headwater" in b]
    assert blocks
    for block in blocks:
        res = subprocess.run(
            [sys.executable, "-c", block], cwd=cwd, capture_output=True, text=True, timeout=300
        )
        assert res.returncode == 0, block + res.stderr[-2000:]
        for expected in re.findall(r"#\s*(\w[^#\n]*)$", block, re.M):  # `print(...)   # False 1`
            assert expected.strip() in res.stdout, (expected, res.stdout)


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path, cli) -> None:
    project = tmp_path / "mine"
    project.mkdir()
    (project / "headwater.yml").write_text("name: mine\n", encoding="utf-8")
    (project / "models").mkdir()
    (project / "models" / "keep.sql").write_text("select 42 as answer\n", encoding="utf-8")
    res = cli("demo", str(project), "--no-build")
    assert res.code == 2 and "not made by `headwater demo`" in res.err
    assert (project / "headwater.yml").read_text(encoding="utf-8") == "name: mine\n"
    assert sorted(p.name for p in project.rglob("*")) == ["headwater.yml", "keep.sql", "models"]


def test_demo_reruns_in_its_own_folder(tmp_path: Path, cli) -> None:
    root = tmp_path / "d"
    assert cli("demo", str(root), "--no-build", "--scale", "0.002").code == 0
    assert (root / ".headwater-demo").is_file()
    assert cli("demo", str(root), "--no-build", "--scale", "0.002").code == 0
