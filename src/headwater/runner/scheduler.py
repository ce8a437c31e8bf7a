"""The one scheduler: run units in dependency order on a pool of threads.

A unit starts when every unit it depends on has finished; when one fails (or is skipped), the
units that depend on it are skipped and say why. `--fail-fast` skips everything not started yet
after the first failure. A run, a build and a backfill are all lists of units handed to this
scheduler; a long-running supply (the scheduler daemon, a stream) adds more with `submit` while it
runs and ends it with `close`.

Retries are not the scheduler's business: an executor retries the one action that may be retried
(`retrying`), because retrying a whole unit would run its hooks twice.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, TypeVar

from headwater.errors import ConflictError, HeadwaterError
from headwater.runner.events import RunListener, Unit, UnitResult

if TYPE_CHECKING:
    from headwater.engines.base import Engine

T = TypeVar("T")

ATTEMPTS = 3
BACKOFF_SECONDS = 0.2

Execute = Callable[[Unit], UnitResult]
Skip = Callable[[Unit, str], UnitResult]
"""Makes the result of a unit that does not run, with its reason."""
Reason = Callable[[Unit, UnitResult], str]
"""Why the dependents of a failed or skipped unit are skipped."""


def upstream_reason(unit: Unit, result: UnitResult) -> str:
    if result.status == "skipped":
        return result.message
    return f"upstream `{result.name}` {'failed checks' if result.status == 'fail' else 'failed'}"


class Scheduler:
    """Runs units with ``threads`` workers; ``execute`` runs one unit and never raises (it turns
    errors into the unit's result), ``skip`` makes the result of a unit that will not run."""

    def __init__(
        self,
        execute: Execute,
        skip: Skip,
        listener: RunListener,
        *,
        threads: int = 1,
        fail_fast: bool = False,
        reason: Reason = upstream_reason,
        thread_name: str = "hw",
    ) -> None:
        self.execute = execute
        self.skip = skip
        self.listener = listener
        self.threads = max(1, threads)
        self.fail_fast = fail_fast
        self.reason = reason
        self.thread_name = thread_name
        self._inbox: queue.SimpleQueue[Unit | None] = queue.SimpleQueue()
        self._closed = threading.Event()

    # -- supply ----------------------------------------------------------------------------------
    def submit(self, units: Iterable[Unit]) -> None:
        """Add units to a running open-ended run (any thread); their deps may name units that
        were submitted before."""
        for unit in units:
            self._inbox.put(unit)
        self._inbox.put(None)  # wakes the loop

    def close(self) -> None:
        """An open-ended run ends once what was submitted has finished."""
        self._closed.set()
        self._inbox.put(None)

    # -- the loop --------------------------------------------------------------------------------
    def run(self, units: Sequence[Unit], *, open_ended: bool = False) -> list[UnitResult]:
        """Run ``units`` (and, when ``open_ended``, what `submit` adds until `close`); the results
        in the order the units were given."""
        order: list[Unit] = []
        by_id: dict[str, Unit] = {}
        waiting: dict[str, set[str]] = {}
        children: dict[str, list[str]] = {}
        results: dict[str, UnitResult] = {}
        ready: list[str] = []
        stop: list[str] = []  # the fail-fast reason, once there is one

        def register(unit: Unit) -> bool:
            if unit.id in by_id:
                return False
            order.append(unit)
            by_id[unit.id] = unit
            children.setdefault(unit.id, [])
            return True

        def link(unit: Unit) -> None:
            """Wait for the unit's deps in this run (a dep outside it has nothing to wait for)."""
            pending: set[str] = set()
            for dep in sorted(unit.deps):
                if dep not in by_id:
                    continue
                if dep in results:
                    if results[dep].failed or results[dep].status == "skipped":
                        finish(unit, self.skip(unit, self.reason(by_id[dep], results[dep])))
                        return
                    continue
                pending.add(dep)
                children[dep].append(unit.id)
            waiting[unit.id] = pending
            if not pending:
                ready.append(unit.id)

        def finish(unit: Unit, result: UnitResult) -> None:
            results[unit.id] = result
            self.listener.unit_finished(unit, result, len(results), len(order))
            if result.failed or result.status == "skipped":
                why = self.reason(unit, result)
                for child in children.get(unit.id, []):
                    if child not in results:
                        finish(by_id[child], self.skip(by_id[child], why))
            if result.failed and self.fail_fast and not stop:
                stop.append(f"--fail-fast: stopped after `{result.name}` failed")
            for child in children.get(unit.id, []):
                if child in results:
                    continue
                waiting[child].discard(unit.id)
                if not waiting[child]:
                    ready.append(child)

        def drain(block: bool) -> None:
            """Link the units `submit` added (waiting up to half a second for some when ``block``)."""
            try:
                item = self._inbox.get(block=block, timeout=0.5 if block else None)
            except queue.Empty:
                return
            while True:
                if item is not None and register(item):
                    link(item)
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    return

        fresh = [u for u in units if register(u)]
        for unit in fresh:
            link(unit)

        def take() -> Unit | None:
            while ready:
                uid = ready.pop(0)
                if uid in results:
                    continue
                if stop:
                    finish(by_id[uid], self.skip(by_id[uid], stop[0]))
                    continue
                return by_id[uid]
            return None

        def more() -> bool:
            return open_ended and not self._closed.is_set()

        if self.threads == 1:
            while True:
                next_unit = take()
                if next_unit is not None:
                    finish(next_unit, self.execute(next_unit))
                    continue
                drain(block=more())
                if not ready and not more():
                    drain(block=False)
                    if not ready:
                        break
        else:
            with ThreadPoolExecutor(self.threads, thread_name_prefix=self.thread_name) as pool:
                running: dict[Future[UnitResult], Unit] = {}
                while True:
                    while len(running) < self.threads:
                        next_unit = take()
                        if next_unit is None:
                            break
                        running[pool.submit(self.execute, next_unit)] = next_unit
                    if running:
                        done_now, _ = wait(
                            running,
                            timeout=0.5 if open_ended else None,
                            return_when=FIRST_COMPLETED,
                        )
                        for future in done_now:
                            finish(running.pop(future), future.result())
                        drain(block=False)
                        continue
                    drain(block=more())
                    if not ready and not more():
                        drain(block=False)
                        if not ready:
                            break
        for unit in order:  # anything never reached (should not happen) is reported, not lost
            if unit.id not in results:
                result = self.skip(unit, stop[0] if stop else "not reached")
                if not stop:  # a scheduling bug, never a quiet success
                    result.status = "error"
                    result.message = (
                        "not reached: its dependencies never finished (a bug in headwater's plan)"
                    )
                results[unit.id] = result
        return [results[u.id] for u in order]


def retrying(
    action: Callable[[], T],
    engine: Engine,
    *,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
    tried: Callable[[int], None] | None = None,
) -> T:
    """Run ``action``; retry it with exponential backoff while the engine says its failure is
    transient (`Engine.is_transient`: a write-write conflict between parallel workers, a
    deadlock, a serialization failure, a lost connection). Connectors retry their own requests
    (`TransientError`), so a failed load is not repeated here. ``tried(n)`` is told the number
    of the attempt that starts."""
    for attempt in range(attempts):
        if tried is not None:
            tried(attempt + 1)
        try:
            return action()
        except HeadwaterError as exc:
            transient = isinstance(exc, ConflictError) or engine.is_transient(exc)
            if attempt == attempts - 1 or not transient:
                raise
            engine.invalidate_catalog()
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
