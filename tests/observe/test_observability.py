"""`Observability`: the observability parts deliver what they collected at the end of a run whose
units ran, and never for one that was interrupted or could not start."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from headwater.observe.observers import Observability
from headwater.runner.events import Run, RunListener, UnitResult


class Heard(RunListener):
    def __init__(self) -> None:
        self.finished: list[str] = []

    def run_finished(self, run: Run, results: Sequence[UnitResult], status: str) -> None:
        self.finished.append(status)


RESULT = UnitResult("model.p.m", "m", "model", "table", "main.m", "error")


@pytest.mark.parametrize(
    ("status", "results", "delivered"),
    [
        ("success", [], True),
        ("failed", [RESULT], True),
        ("error", [RESULT], True),  # an on-run-end hook failed after the units ran
        ("error", [], False),  # nothing ran (an on-run-start hook failed)
        ("interrupted", [RESULT], False),
    ],
)
def test_what_a_run_collected_is_delivered_when_its_units_ran(
    status: str, results: list[UnitResult], delivered: bool
) -> None:
    part = Heard()
    Observability([part]).run_finished(Run("inv", "build", "dev"), results, status)
    assert part.finished == ([status] if delivered else [])
