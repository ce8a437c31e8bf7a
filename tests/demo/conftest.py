"""One demo, built once per test session at a small scale, in a folder named as the README's."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from headwater.cli import main

    root = tmp_path_factory.mktemp("demo") / "headwater_demo"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["demo", str(root), "--scale", "0.01", "--json"])
    assert code == 0, buf.getvalue()[-2000:]
    return root, json.loads(buf.getvalue())
