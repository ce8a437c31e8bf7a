"""The run history: a listener that records every invocation, unit result and check in the
state store, and one line per unit in `.headwater/logs/headwater.log`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from headwater.runner.events import Run, RunListener, Unit, UnitResult
from headwater.state.records import CheckRecord, NodeRun

if TYPE_CHECKING:
    from headwater.state.protocol import StateStore


class StateRecorder(RunListener):
    """Records a run in ``state`` (its start, each unit and check, its end) and logs it. The
    summary of the run says how many units it had, under ``count_as`` (``units``, ``intervals``)."""

    def __init__(self, state: StateStore, logger: logging.Logger, count_as: str = "units") -> None:
        self.state = state
        self.log = logger
        self.count_as = count_as
        self.total = 0
        self.invocation_id = ""

    def run_started(self, run: Run, units: Sequence[Unit]) -> None:
        self.total = len(units)
        self.invocation_id = run.invocation_id
        self.state.runs.start(run.invocation_id, run.command, run.args, run.target)
        self.log.info(
            "%s start %s target=%s units=%d",
            run.invocation_id[:8],
            run.command,
            run.target,
            len(units),
        )

    def unit_finished(self, unit: Unit, result: UnitResult, index: int, total: int) -> None:
        invocation_id = self.invocation_id
        row: dict[str, Any] = result.to_dict()
        if unit.interval is not None:  # one row per interval: the unit is the model at a time
            row["unique_id"] = result.unit_id
        self.state.runs.record_node(NodeRun.of(invocation_id, row))
        for check in result.checks:
            self.state.checks.record(CheckRecord.of(invocation_id, check.to_dict()))
        self.log.info(
            "%s %s %s %.3fs rows=%s %s",
            invocation_id[:8],
            result.status,
            result.name,
            result.duration,
            result.rows,
            result.message.replace("\n", " ")[:500],
        )

    def run_finished(self, run: Run, results: Sequence[UnitResult], status: str) -> None:
        self.state.runs.finish(run.invocation_id, status, {self.count_as: self.total})
        self.log.info("%s end %s %s", run.invocation_id[:8], run.command, status)
