"""Load a script of `benchmarks/` as a module, the way `benchmarks/run.py` runs it, for tests
that check a benchmark's code on a small set (its timings are never asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as the module ``<name>_bench``; `benchmarks/common.py`, which it
    imports, does not stay behind in ``sys.modules``."""
    had_common = "common" in sys.modules
    module_name = f"{name}_bench"
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop(module_name, None)
        if not had_common:
            sys.modules.pop("common", None)  # benchmarks/common.py: not a module of the tests
    return module
