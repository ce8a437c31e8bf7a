"""The one scheduler: dependency order, skips, fail-fast, threads and an open-ended supply."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.runner.events import Run, RunListener, Unit, UnitResult, run_session
from headwater.runner.scheduler import Scheduler


def result(unit: Unit, status: str, message: str = "") -> UnitResult:
    return UnitResult(unit.id, unit.id, "model", "table", None, status, message=message)


class Log(RunListener):
    """Records what a listener hears, in order."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, str, int, int]] = []
        self.runs: list[tuple[str, int]] = []

    def run_started(self, run: Run, units: Sequence[Unit]) -> None:
        self.runs.append(("started", len(units)))

    def unit_finished(self, unit: Unit, result: UnitResult, index: int, total: int) -> None:
        self.finished.append((unit.id, result.status, index, total))

    def run_finished(self, run: Run, results: Sequence[UnitResult], status: str) -> None:
        self.runs.append((status, len(results)))


def scheduler(
    fails: set[str],
    log: RunListener,
    threads: int = 1,
    fail_fast: bool = False,
    order: list[str] | None = None,
) -> Scheduler:
    """Units in ``fails`` fail; the ids of the units that ran are appended to ``order``."""
    order = [] if order is None else order
    lock = threading.Lock()

    def execute(unit: Unit) -> UnitResult:
        with lock:
            order.append(unit.id)
        return result(unit, "error" if unit.id in fails else "success")

    def skip(unit: Unit, why: str) -> UnitResult:
        return result(unit, "skipped", why)

    return Scheduler(execute, skip, log, threads=threads, fail_fast=fail_fast)


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[Unit], set[str]]:
    n = draw(st.integers(1, 12))
    units = []
    for i in range(n):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        units.append(Unit(id=f"u{i}", deps={f"u{d}" for d in deps}))
    fails = draw(st.sets(st.sampled_from([u.id for u in units]), max_size=3))
    return units, fails


def descendants(units: list[Unit], of: set[str]) -> set[str]:
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for u in units:
            if u.id not in out and u.deps & (of | out):
                out.add(u.id)
                changed = True
    return out


@settings(max_examples=60, deadline=None)
@given(dags(), st.sampled_from([1, 3]))
def test_units_run_after_their_deps_and_failures_skip_exactly_their_descendants(
    dag: tuple[list[Unit], set[str]], threads: int
) -> None:
    units, fails = dag
    log = Log()
    ran: list[str] = []
    results = {r.unit_id: r for r in scheduler(fails, log, threads, order=ran).run(units)}
    position = {uid: i for i, uid in enumerate(ran)}
    for unit in units:
        if unit.id in position:  # every dep that ran, ran before it
            assert all(position[d] < position[unit.id] for d in unit.deps)
    failed = {u for u in fails if u in position}
    skipped = {uid for uid, r in results.items() if r.status == "skipped"}
    assert skipped == descendants(units, failed)
    assert set(results) == {u.id for u in units}
    assert [f[2] for f in log.finished] == list(range(1, len(units) + 1))
    assert all(f[3] == len(units) for f in log.finished)


def test_a_skipped_unit_says_which_upstream_failed() -> None:
    a, b, c = Unit(id="a"), Unit(id="b", deps={"a"}), Unit(id="c", deps={"b"})
    results = scheduler({"a"}, Log()).run([a, b, c])
    assert [r.status for r in results] == ["error", "skipped", "skipped"]
    assert results[1].message == "upstream `a` failed"
    assert results[2].message == "upstream `a` failed"  # the first cause, not the chain


def test_fail_fast_skips_what_has_not_started() -> None:
    units = [Unit(id="a"), Unit(id="b"), Unit(id="c")]
    results = scheduler({"a"}, Log(), fail_fast=True).run(units)
    assert [r.status for r in results] == ["error", "skipped", "skipped"]
    assert results[1].message == "--fail-fast: stopped after `a` failed"


def test_a_dep_outside_the_run_is_not_waited_for() -> None:
    [r] = scheduler(set(), Log()).run([Unit(id="b", deps={"not-in-this-run"})])
    assert r.status == "success"


def test_an_open_ended_run_takes_units_until_it_is_closed() -> None:
    log = Log()
    s = scheduler({"late-fail"}, log, threads=2)
    out: list[list[UnitResult]] = []
    worker = threading.Thread(target=lambda: out.append(s.run([Unit(id="first")], open_ended=True)))
    worker.start()
    s.submit([Unit(id="late-fail"), Unit(id="after", deps={"late-fail"})])
    s.submit([Unit(id="after-first", deps={"first"})])
    s.close()
    worker.join(timeout=30)
    assert not worker.is_alive()
    statuses = {r.unit_id: r.status for r in out[0]}
    assert statuses == {
        "first": "success",
        "late-fail": "error",
        "after": "skipped",
        "after-first": "success",
    }


def test_a_session_reports_how_the_run_ended() -> None:
    log = Log()
    run = Run("inv", "build", "dev")
    with run_session(log, run, [Unit(id="a")]) as session:
        session.results += scheduler({"a"}, log).run([Unit(id="a")])
    try:
        with run_session(log, run, []):
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert log.runs == [("started", 1), ("failed", 1), ("started", 0), ("interrupted", 0)]


def test_a_failing_listener_never_fails_the_run() -> None:
    class Broken(RunListener):
        def unit_finished(self, unit: Unit, result: UnitResult, index: int, total: int) -> None:
            raise RuntimeError("boom")

    from headwater.runner.events import Listeners

    log = Log()
    results = scheduler(set(), Listeners([Broken(), log])).run([Unit(id="a"), Unit(id="b")])
    assert [r.status for r in results] == ["success", "success"]
    assert [f[0] for f in log.finished] == ["a", "b"]
