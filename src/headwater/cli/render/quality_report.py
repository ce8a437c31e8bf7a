"""A self-contained HTML quality report of one invocation's check results.

`headwater test --report quality.html` (and `build --report`) writes one file that a data
engineer opens in a browser, mails, or attaches to a CI run: no network access, no external CSS,
JS or fonts, so it renders the same anywhere and years later. Everything comes from the state
store (`.headwater/state.db`): the invocation, its check results (status, failures, failing-row
sample, SQL, expectation result) and each check's recent history, drawn as an inline SVG strip.

Check names, messages, sample values and SQL are user data: every one of them goes through
`html.escape`; the only script is a constant of `quality_page` (a filter to hide passing
checks).
"""

from __future__ import annotations

import math
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.cli.render.quality_page import QualityPage
from headwater.errors import UsageError
from headwater.state.records import as_row

if TYPE_CHECKING:
    from headwater.state import StateStore

__all__ = ["render_quality_report", "write_quality_report"]


def render_quality_report(
    store: StateStore,
    invocation_id: str | None = None,
    *,
    project: str = "",
    history: int = 30,
) -> str:
    """The report of ``invocation_id`` (default: the latest build/test that ran checks) as HTML.

    ``invocation_id`` may be a unique prefix (the report and the logs show 8 characters).
    Trends show at most ``history`` runs per check, up to and including this invocation, so the
    report of a past invocation does not change when later runs are recorded.
    """
    invocation = _find_invocation(store, invocation_id)  # reads write the queued results first
    inv_id = invocation["invocation_id"]
    checks = [as_row(c) for c in store.checks.for_invocation(inv_id)]
    histories = _histories(store, checks, inv_id, max(1, history))
    return QualityPage(project, invocation, checks, histories).render()


def write_quality_report(
    store: StateStore,
    path: str | Path,
    invocation_id: str | None = None,
    *,
    project: str = "",
    history: int = 30,
) -> Path:
    """Render the report and write it atomically: a reader (a browser auto-reloading, a CI
    artifact upload) sees the old file or the new one, never half of one."""
    path = Path(path)
    text = render_quality_report(store, invocation_id, project=project, history=history)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        # mkstemp makes the file private (0600); a report is meant to be shared (CI artifacts, a
        # web folder): keep the mode of the file it replaces, else the usual 0644
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# -- data -----------------------------------------------------------------------------------------


def _find_invocation(store: StateStore, invocation_id: str | None) -> dict[str, Any]:
    if invocation_id is None:
        found = store.runs.latest_with_checks()
        if found is None:
            raise UsageError(
                "no check results recorded yet",
                hint="run `headwater test` or `headwater build` first",
            )
        return as_row(found)
    exact = store.runs.get(invocation_id)  # the exact id, else a unique prefix
    rows = [exact] if exact is not None else store.runs.with_prefix(invocation_id, limit=2)
    if len(rows) > 1:
        raise UsageError(
            f"invocation id `{invocation_id}` is ambiguous",
            hint="give more characters of the id (`headwater` logs show recent invocations)",
        )
    if not rows:
        raise UsageError(
            f"no invocation `{invocation_id}` in the state store",
            hint="leave the id out to report on the latest `headwater test` or `headwater build`",
        )
    return as_row(rows[0])


def _histories(
    store: StateStore, checks: list[dict[str, Any]], inv_id: str, limit: int
) -> dict[str, list[dict[str, Any]]]:
    """Each check's runs, oldest first, ending with this invocation's run.

    Later runs are cut off so that a report is a snapshot of its invocation. When the invocation
    is older than the store's last ``limit`` runs of a check, only its own run is shown.
    """
    ids = [c["unique_id"] for c in checks]
    raw: dict[str, list[dict[str, Any]]] = {}
    for uid, points in store.checks.history(ids, limit=limit).items():
        raw[uid] = [as_row(p) for p in points]
    out: dict[str, list[dict[str, Any]]] = {}
    for check in checks:
        uid = check["unique_id"]
        now = check.get("recorded_at") or math.inf
        runs = [
            h
            for h in raw.get(uid, [])
            if h["invocation_id"] != inv_id and (h.get("recorded_at") or 0) <= now
        ]
        runs.append(
            {
                "unique_id": uid,
                "invocation_id": inv_id,
                "status": check["status"],
                "failures": check.get("failures"),
                "rows_checked": check.get("rows_checked"),
                "quarantined": check.get("quarantined"),
                "recorded_at": check.get("recorded_at"),
            }
        )
        out[uid] = runs[-limit:]
    return out
