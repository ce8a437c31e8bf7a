"""The HTML page of `headwater.cli.render.quality_report`: one self-contained document (inline
CSS, one constant script, inline SVG trends) from an invocation, its check results and each
check's recent runs. Every user value goes through `html.escape`."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

SAMPLE_LIMIT = 20
"""Failing rows shown per check: enough to see the pattern, small enough to keep the file light."""
_CELL_CHARS = 200
_DIGITS = re.compile(r"(\d+)")

# Order of nodes and checks: what needs attention first. `error` (could not run) ranks with `fail`
# because a check that cannot run protects nothing.
_RANK = {"error": 0, "fail": 0, "warn": 1, "pass": 2}
_LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR"}
_ICON = {"pass": "\u2713", "warn": "\u25b2", "fail": "\u2715", "error": "\u2298"}
_HIGHLIGHTS = (
    "observed_value",
    "unexpected_count",
    "unexpected_percent",
    "partial_unexpected_list",
)


def _overall_trend(histories: dict[str, list[dict[str, Any]]], limit: int) -> list[dict[str, Any]]:
    """Failed / warned / errored checks per past invocation, from the checks of this report."""
    runs: dict[str, dict[str, Any]] = {}
    for entries in histories.values():
        for h in entries:
            run = runs.get(h["invocation_id"])
            if run is None:
                run = runs[h["invocation_id"]] = {
                    "invocation_id": h["invocation_id"],
                    "at": h.get("recorded_at"),
                    "pass": 0, "warn": 0, "fail": 0, "error": 0, "total": 0,
                }  # fmt: skip
            at = h.get("recorded_at")
            if at is not None and (run["at"] is None or at < run["at"]):
                run["at"] = at
            status = h.get("status")
            run[status if status in _RANK else "error"] += 1
            run["total"] += 1
    ordered = sorted(runs.values(), key=lambda r: r["at"] if r["at"] is not None else 0)
    return ordered[-limit:]


# -- formatting -----------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _natural(value: str | None) -> list[tuple[int, int | str]]:
    """Sort key that puts `model_2` before `model_10`."""
    return [(0, int(p)) if p.isdigit() else (1, p.lower()) for p in _DIGITS.split(value or "") if p]


def _ident(value: Any) -> str:
    """An escaped identifier that may wrap after `_` and `.` (long check names in narrow columns)."""
    return _e(value).replace("_", "_<wbr>").replace(".", ".<wbr>")


def _utc(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "still running"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s"


def _int(value: Any) -> str:
    if value is None:
        return "—"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return _e(value)


def _percent(failures: Any, rows: Any) -> str:
    try:
        f, n = int(failures or 0), int(rows)
    except (TypeError, ValueError):
        return ""
    if n <= 0:
        return ""
    pct = 100.0 * f / n
    if 0 < pct < 0.01:
        return "&lt;0.01%"
    text = f"{pct:.1f}" if pct >= 10 else f"{pct:.2f}"
    return text.rstrip("0").rstrip(".") + "%"


def _status(value: Any) -> str:
    return value if value in _RANK else "error" if value is None else str(value)


def _badge(status: str, big: bool = False) -> str:
    cls = status if status in _RANK else "other"
    label = _LABEL.get(status, str(status).upper())
    icon = _ICON.get(status, "?")
    size = " big" if big else ""
    return f'<span class="badge b-{cls}{size}"><span aria-hidden="true">{icon}</span> {_e(label)}</span>'


def _loads(text: Any) -> Any:
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json_text(value: Any, indent: int | None = 2) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


def _cell(value: Any) -> str:
    """One sample value: nulls visibly null, long text cut with the full value in a tooltip."""
    if value is None:
        return '<td class="null">null</td>'
    text = value if isinstance(value, str) else _json_text(value, indent=None)
    if len(text) > _CELL_CHARS:
        return f'<td title="{_e(text)}">{_e(text[: _CELL_CHARS - 1])}…</td>'
    cls = ' class="num"' if isinstance(value, int | float) and not isinstance(value, bool) else ""
    return f"<td{cls}>{_e(text)}</td>"


def _worst(statuses: Iterable[str]) -> str:
    worst = "pass"
    for s in statuses:
        if s == "fail" or (s == "error" and worst != "fail"):
            worst = s
        elif s not in _RANK and worst in ("pass", "warn"):
            worst = "error"
        elif s == "warn" and worst == "pass":
            worst = "warn"
    return worst


# -- SVG trends -----------------------------------------------------------------------------------


def _sparkline(runs: list[dict[str, Any]]) -> str:
    """Failures per run, one bar each, coloured by status; the current run is outlined."""
    bw, gap, height, floor = 5, 1, 22, 3
    top = max((int(r.get("failures") or 0) for r in runs), default=0)
    parts = []
    counts: dict[str, int] = {}
    for i, r in enumerate(runs):
        status = _status(r.get("status"))
        counts[status] = counts.get(status, 0) + 1
        failures = int(r.get("failures") or 0)
        if status == "error":
            h = height
        elif failures and top:
            h = max(floor + 2, round(height * failures / top))
        else:
            h = floor
        cls = f"bar s-{status if status in _RANK else 'other'}" + (
            " cur" if i == len(runs) - 1 else ""
        )
        tip = f"{_utc(r.get('recorded_at'))} · {_LABEL.get(status, status)} · {failures:,} failures"
        if r.get("rows_checked"):
            tip += f" of {int(r['rows_checked']):,} rows"
        parts.append(
            f'<rect class="{cls}" x="{i * (bw + gap)}" y="{height - h}" width="{bw}" height="{h}">'
            f"<title>{_e(tip)}</title></rect>"
        )
    width = max(1, len(runs) * (bw + gap) - gap)
    label = f"last {len(runs)} run{'s' if len(runs) != 1 else ''}: " + ", ".join(
        f"{n} {s}" for s, n in sorted(counts.items())
    )
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(label)}">{"".join(parts)}</svg>'
    )


def _overall_svg(runs: list[dict[str, Any]], current: str) -> str:
    """Failed (incl. errored) and warned checks per invocation, stacked; green when clean."""
    bw, gap, height, floor = 12, 4, 56, 3
    top = max((r["fail"] + r["error"] + r["warn"] for r in runs), default=0)
    scale = (height - 2) / top if top else 0.0
    parts = []
    for i, r in enumerate(runs):
        x = i * (bw + gap)
        bad, warn = r["fail"] + r["error"], r["warn"]
        cur = " cur" if r["invocation_id"] == current else ""
        tip = (
            f"{_utc(r['at'])} · run {r['invocation_id'][:8]} · {r['fail']} failed, {r['warn']} warned, "
            f"{r['error']} errored, {r['pass']} passed of {r['total']} checks"
        )
        rects = []
        if bad + warn == 0:
            rects.append(
                f'<rect class="bar s-pass" x="{x}" y="{height - floor}" width="{bw}" height="{floor}"/>'
            )
        else:
            h_bad = max(2, round(bad * scale)) if bad else 0
            h_warn = max(2, round(warn * scale)) if warn else 0
            if h_bad:
                rects.append(
                    f'<rect class="bar s-fail" x="{x}" y="{height - h_bad}" width="{bw}" height="{h_bad}"/>'
                )
            if h_warn:
                y = height - h_bad - h_warn
                rects.append(
                    f'<rect class="bar s-warn" x="{x}" y="{y}" width="{bw}" height="{h_warn}"/>'
                )
        outline = ""
        if cur:
            outline = f'<rect class="mark" x="{x}" y="{height + 3}" width="{bw}" height="3"/>'
        parts.append(f'<g class="run{cur}"><title>{_e(tip)}</title>{"".join(rects)}{outline}</g>')
    width = max(1, len(runs) * (bw + gap) - gap)
    total_h = height + 6
    return (
        f'<svg class="overall" width="{width}" height="{total_h}" viewBox="0 0 {width} {total_h}" '
        f'role="img" aria-label="failed and warned checks in the last {len(runs)} runs">{"".join(parts)}</svg>'
    )


# -- the page -------------------------------------------------------------------------------------


class QualityPage:
    """The report of one invocation: `render` returns the whole document."""

    def __init__(
        self,
        project: str,
        invocation: dict[str, Any],
        checks: list[dict[str, Any]],
        histories: dict[str, list[dict[str, Any]]],
    ) -> None:
        self.project = project
        self.inv = invocation
        self.checks = checks
        self.histories = histories
        self.groups = self._groups()

    def render(self) -> str:
        inv_id = self.inv["invocation_id"]
        title = f"{self.project + ' · ' if self.project else ''}quality report · {inv_id[:8]}"
        out = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="generator" content="headwater">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style></head><body>",
            self._header(),
            "<main>",
            self._toolbar_and_nav(),
            self._nodes(),
            "</main>",
            f"<footer>Generated by headwater at {_e(_utc(datetime.now(tz=UTC).timestamp()))} "
            f"from the state store · invocation {_e(inv_id)}</footer>",
            f"<script>{_JS}</script>",
            "</body></html>",
        ]
        return "\n".join(out) + "\n"

    # header: what ran, when, and the verdict
    def _header(self) -> str:
        inv = self.inv
        counts = {"pass": 0, "warn": 0, "fail": 0, "error": 0}
        quarantined = 0
        for c in self.checks:
            s = _status(c["status"])
            counts[s if s in counts else "error"] += 1
            quarantined += int(c.get("quarantined") or 0)
        verdict = _worst(_status(c["status"]) for c in self.checks) if self.checks else "no checks"
        started, finished = inv.get("started_at"), inv.get("finished_at")
        duration = _duration(
            finished - started if finished is not None and started is not None else None
        )
        heading = f"{_e(self.project)} quality report" if self.project else "Quality report"
        meta = [
            (
                "Invocation",
                f'<code title="{_e(inv["invocation_id"])}">{_e(inv["invocation_id"][:8])}</code>',
            ),
            ("Command", f"<code>headwater {_e(inv.get('command'))}</code>"),
            ("Target", _e(inv.get("target") or "—")),
            ("Started (UTC)", f"<time>{_e(_utc(started))}</time>"),
            ("Duration", _e(duration)),
            ("Run status", f'<span class="runstatus">{_e(inv.get("status"))}</span>'),
        ]
        cards = [
            ("total", "Checks", len(self.checks)),
            ("pass", "Passed", counts["pass"]),
            ("warn", "Warned", counts["warn"]),
            ("fail", "Failed", counts["fail"]),
            ("error", "Errored", counts["error"]),
            ("quar", "Rows quarantined", quarantined),
        ]
        trend = _overall_trend(
            self.histories, max((len(h) for h in self.histories.values()), default=1)
        )
        out = [
            "<header>",
            f'<div class="title"><h1>{heading}</h1>{_badge(verdict, big=True)}</div>',
            '<dl class="meta">',
            *(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in meta),
            "</dl>",
            '<div class="cards">',
            *(
                f'<div class="card c-{cls}{" zero" if n == 0 and cls not in ("total", "pass") else ""}">'
                f'<div class="n" data-count="{cls}">{n:,}</div><div class="l">{label}</div></div>'
                for cls, label, n in cards
            ),
            "</div>",
        ]
        if trend:
            first, last = trend[0]["at"], trend[-1]["at"]
            out += [
                '<div class="trend"><div class="trend-h">Failed and warned checks, last '
                f"{len(trend)} run{'s' if len(trend) != 1 else ''}"
                '<span class="legend"><span class="k s-fail"></span>failed/errored <span class="k s-warn"></span>warned '
                '<span class="k s-pass"></span>all passed</span></div>',
                _overall_svg(trend, inv["invocation_id"]),
                f'<div class="axis">{_e(_utc(first))} → {_e(_utc(last))}; '
                "the marked bar is this invocation</div></div>",
            ]
        out.append("</header>")
        return "\n".join(out)

    def _groups(self) -> list[tuple[str | None, list[dict[str, Any]], str]]:
        groups: dict[str | None, list[dict[str, Any]]] = {}
        for c in self.checks:
            groups.setdefault(c.get("node"), []).append(c)
        out = []
        for node, checks in groups.items():
            checks.sort(key=lambda c: (_RANK.get(_status(c["status"]), 0), _natural(c.get("name"))))
            out.append((node, checks, _worst(_status(c["status"]) for c in checks)))
        # worst first; singular tests after nodes of the same rank
        out.sort(key=lambda g: (_RANK.get(g[2], 0), g[0] is None, _natural(g[0])))
        return out

    def _toolbar_and_nav(self) -> str:
        if not self.checks:
            return ""
        # chips only for nodes that need attention: with hundreds of clean nodes, a wall of green
        # chips would hide the few that matter
        chips = []
        for i, (node, checks, worst) in enumerate(self.groups):
            bad = sum(1 for c in checks if _status(c["status"]) != "pass")
            if not bad:
                continue
            name = node if node is not None else "singular tests"
            chips.append(
                f'<a class="chip s-{worst if worst in _RANK else "other"}" href="#node-{i}">'
                f'<span aria-hidden="true">{_ICON.get(worst, "?")}</span> {_e(name)} <b>{bad}</b></a>'
            )
        clean = len(self.groups) - len(chips)
        if chips:
            tail = f" and {clean:,} where every check passed" if clean else ""
            nav = (
                f'<nav aria-label="Nodes needing attention"><span class="hint">{len(chips):,} '
                f"node{'s' if len(chips) != 1 else ''} need attention{tail}:</span> {''.join(chips)}</nav>"
            )
        else:
            nav = f'<nav><span class="hint">Every check passed on all {clean:,} nodes.</span></nav>'
        nodes = sum(1 for g in self.groups if g[0] is not None)
        singular = " + singular tests" if nodes < len(self.groups) else ""
        return (
            '<div class="toolbar">'
            '<label><input type="checkbox" id="hide-pass"> Hide passing checks</label>'
            '<input type="search" id="q" placeholder="Filter by check, type, column or node…" '
            'aria-label="Filter checks">'
            f'<span class="hint">{len(self.checks):,} checks on {nodes:,} '
            f"node{'s' if nodes != 1 else ''}{singular}</span></div>{nav}"
        )

    def _nodes(self) -> str:
        if not self.checks:
            return '<p class="empty">No checks ran in this invocation.</p>'
        # the trend column as wide as the longest strip (6px a run), so the message keeps the room
        runs = max((len(h) for h in self.histories.values()), default=1)
        cols = _COLS.format(trend=max(60, runs * 6 + 16))
        out = []
        for i, (node, checks, worst) in enumerate(self.groups):
            counts: dict[str, int] = {}
            for c in checks:
                s = _status(c["status"])
                counts[s] = counts.get(s, 0) + 1
            words = {"fail": "failed", "error": "errored", "warn": "warned", "pass": "passed"}
            summary = " · ".join(
                f"{counts[s]} {words[s]}"
                for s in ("fail", "error", "warn", "pass")
                if counts.get(s)
            )
            heading = (
                f"<code>{_ident(node)}</code>"
                if node is not None
                else "Singular tests <small>(not attached to a node)</small>"
            )
            out.append(
                f'<section class="node n-{worst if worst in _RANK else "other"}" id="node-{i}">'
                f'<h2>{_badge(worst)} {heading} <span class="sub">{len(checks)} '
                f"check{'s' if len(checks) != 1 else ''} · {summary}</span></h2>"
                f'<div class="scroll"><table class="checks">{cols}<thead><tr>'
                "<th>Status</th><th>Check</th><th>Type</th><th>Column</th><th>Severity</th>"
                '<th class="num">Failures</th><th class="num">Quarantined</th><th>Trend</th>'
                "<th>Message</th></tr></thead>"
            )
            out.extend(self._check(c, node) for c in checks)
            out.append("</table></div></section>")
        return "\n".join(out)

    def _check(self, c: dict[str, Any], node: str | None) -> str:
        status = _status(c["status"])
        cls = status if status in _RANK else "other"
        search = " ".join(
            str(v) for v in (c.get("name"), c.get("check_type"), c.get("column_name"), node) if v
        ).lower()
        pct = _percent(c.get("failures"), c.get("rows_checked"))
        failures = _int(c.get("failures"))
        if pct and c.get("failures"):
            failures += f'<div class="pct">{pct} of {_int(c.get("rows_checked"))}</div>'
        elif c.get("rows_checked") is not None:
            failures += f'<div class="pct">of {_int(c.get("rows_checked"))} rows</div>'
        runs = self.histories.get(c["unique_id"], [])
        sql = ""
        if c.get("query"):
            sql = f'<details class="sql"><summary>SQL</summary><pre><code>{_e(c["query"])}</code></pre></details>'
        column = f"<code>{_ident(c['column_name'])}</code>" if c.get("column_name") else "—"
        row = (
            f'<tbody class="check st-{cls}" data-search="{_e(search)}"><tr class="main">'
            f"<td>{_badge(status)}</td>"
            f'<td class="name"><span title="{_e(c["unique_id"])}">{_ident(c.get("name"))}</span></td>'
            f"<td><code>{_ident(c.get('check_type') or '—')}</code></td>"
            f"<td>{column}</td>"
            f'<td class="sev sev-{_e(c.get("severity"))}">{_e(c.get("severity") or "—")}</td>'
            f'<td class="num">{failures}</td>'
            f'<td class="num">{_int(c.get("quarantined"))}</td>'
            f'<td class="trendcell">{_sparkline(runs)}</td>'
            f'<td class="msg"><div class="m">{_e(c.get("message") or "")}</div>{sql}</td></tr>'
        )
        detail = self._detail(c, status)
        if detail:
            row += f'<tr class="detail"><td colspan="9">{detail}</td></tr>'
        return row + "</tbody>"

    def _detail(self, c: dict[str, Any], status: str) -> str:
        parts = []
        result = _loads(c.get("result"))
        if isinstance(result, dict):
            nested = result.get("result")
            inner: dict[str, Any] = nested if isinstance(nested, dict) else result
            items = [(k, inner[k]) for k in _HIGHLIGHTS if k in inner]
            exc = result.get("exception_info")
            if (
                isinstance(exc, dict)
                and exc.get("raised_exception")
                and exc.get("exception_message")
            ):
                items.append(("exception_message", exc["exception_message"]))
            if items:
                parts.append(
                    '<dl class="gx">'
                    + "".join(
                        f"<div><dt>{_e(k)}</dt><dd><code>{_e(_short(v))}</code></dd></div>"
                        for k, v in items
                    )
                    + "</dl>"
                )
        sample = _loads(c.get("sample"))
        if sample:
            parts.append(_sample_block(sample, open_=status != "pass"))
        if result is not None:
            parts.append(
                '<details class="result"><summary>Validation result (JSON)</summary>'
                f"<pre><code>{_e(_json_text(result))}</code></pre></details>"
            )
        return "".join(parts)


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else _json_text(value, indent=None)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sample_block(sample: Any, open_: bool) -> str:
    """The failing-rows sample as a small table (a list of row dicts), else as text."""
    if not isinstance(sample, list) or not all(isinstance(r, dict) for r in sample):
        return (
            f'<details class="sample"{" open" if open_ else ""}><summary>Failing rows sample</summary>'
            f"<pre><code>{_e(_json_text(sample))}</code></pre></details>"
        )
    rows = sample[:SAMPLE_LIMIT]
    columns: dict[str, None] = {}
    for r in rows:
        for k in r:
            columns.setdefault(str(k), None)
    shown = f"{len(rows)} of {len(sample)}" if len(sample) > len(rows) else f"{len(rows)}"
    head = "".join(f"<th>{_e(k)}</th>" for k in columns)
    body = "".join(
        "<tr>"
        + "".join(_cell(r.get(k)) if k in r else '<td class="null"></td>' for k in columns)
        + "</tr>"
        for r in ({str(k): v for k, v in r.items()} for r in rows)
    )
    return (
        f'<details class="sample"{" open" if open_ else ""}><summary>Failing rows sample '
        f'<span class="sub">({shown} row{"s" if len(rows) != 1 else ""})</span></summary>'
        f'<div class="scroll"><table class="rows"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div></details>"
    )


_COLS = (
    '<colgroup><col class="w-status"><col class="w-name"><col class="w-type"><col class="w-col">'
    '<col class="w-sev"><col class="w-num"><col class="w-quar"><col style="width:{trend}px">'
    '<col class="w-msg"></colgroup>'
)

_CSS = """
:root{--bg:#f6f8fa;--fg:#1f2328;--muted:#59636e;--card:#fff;--border:#d1d9e0;--code:#eff2f5;
--pass:#1a7f37;--pass-bg:#dafbe1;--warn:#9a6700;--warn-bg:#fff8c5;--fail:#cf222e;--fail-bg:#ffebe9;
--error:#8250df;--error-bg:#fbefff;--other:#59636e;--other-bg:#eff2f5;--link:#0969da}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--card:#151b23;
--border:#3d444d;--code:#1f2630;--pass:#3fb950;--pass-bg:#12301c;--warn:#d29922;--warn-bg:#3a2d0b;
--fail:#f85149;--fail-bg:#42161a;--error:#ab7df8;--error-bg:#2e1f4d;--other:#9198a1;--other-bg:#262c36;
--link:#4493f8}}
*{box-sizing:border-box}
html{background:var(--bg);color:var(--fg)}
body{margin:0 auto;max-width:1680px;padding:24px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
[hidden]{display:none!important}
header,section.node,.toolbar{background:var(--card);border:1px solid var(--border);border-radius:10px}
header{padding:20px 24px;margin-bottom:16px}
.title{display:flex;align-items:center;gap:14px;flex-wrap:wrap}
h1{margin:0;font-size:22px}
.meta{display:flex;flex-wrap:wrap;gap:8px 28px;margin:14px 0 18px}
.meta div{min-width:110px}.meta dt{color:var(--muted);font-size:12px}.meta dd{margin:0;font-weight:500}
.runstatus{text-transform:uppercase;font-size:12px;letter-spacing:.04em}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 120px;border:1px solid var(--border);border-left-width:5px;border-radius:8px;padding:10px 14px}
.card .n{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums}.card .l{color:var(--muted)}
.c-pass{border-left-color:var(--pass)}.c-warn{border-left-color:var(--warn)}.c-fail{border-left-color:var(--fail)}
.c-error{border-left-color:var(--error)}.c-quar{border-left-color:var(--link)}.c-total{border-left-color:var(--muted)}
.card.zero .n{color:var(--muted)}
.trend{margin-top:18px;display:inline-block;max-width:100%;overflow-x:auto}
.trend-h{color:var(--muted);font-size:12px;margin-bottom:6px;display:flex;gap:16px;flex-wrap:wrap}
.legend .k{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 8px;vertical-align:-1px}
.axis{color:var(--muted);font-size:11px;margin-top:4px}
svg{display:block;overflow:visible}
.s-pass{fill:var(--pass);background:var(--pass)}.s-warn{fill:var(--warn);background:var(--warn)}
.s-fail{fill:var(--fail);background:var(--fail)}.s-error{fill:var(--error);background:var(--error)}
.s-other{fill:var(--other);background:var(--other)}
.spark rect.cur{stroke:var(--fg);stroke-width:1.2}
.overall .mark{fill:var(--fg)}
svg g.run:hover rect.bar,svg rect.bar:hover{opacity:.7}
.badge{display:inline-flex;align-items:center;gap:4px;padding:1px 8px;border-radius:999px;font-size:11.5px;
font-weight:650;letter-spacing:.03em;white-space:nowrap;border:1px solid currentColor}
.badge.big{font-size:14px;padding:3px 12px}
.b-pass{color:var(--pass);background:var(--pass-bg)}.b-warn{color:var(--warn);background:var(--warn-bg)}
.b-fail{color:var(--fail);background:var(--fail-bg)}.b-error{color:var(--error);background:var(--error-bg)}
.b-other{color:var(--other);background:var(--other-bg)}
.toolbar{display:flex;gap:18px;align-items:center;flex-wrap:wrap;padding:10px 16px;margin-bottom:10px;
position:sticky;top:0;z-index:2}
.toolbar input[type=search]{flex:1 1 260px;max-width:420px;padding:5px 9px;border:1px solid var(--border);
border-radius:6px;background:var(--bg);color:var(--fg);font:inherit}
.hint,.sub{color:var(--muted);font-weight:400;font-size:12px}
nav{display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin:0 0 16px;max-height:8.5em;overflow:auto}
.chip{font-size:12px;text-decoration:none;color:var(--fg);border:1px solid var(--border);background:var(--card);
border-left:4px solid var(--other);border-radius:6px;padding:2px 8px}
.chip.s-pass{border-left-color:var(--pass)}.chip.s-warn{border-left-color:var(--warn)}
.chip.s-fail{border-left-color:var(--fail)}.chip.s-error{border-left-color:var(--error)}
.chip{background:var(--card)}.chip:hover{border-color:var(--link)}
section.node{margin-bottom:16px;overflow:hidden;scroll-margin-top:64px}
section.node h2{font-size:15px;margin:0;padding:10px 16px;border-bottom:1px solid var(--border);display:flex;
gap:10px;align-items:center;flex-wrap:wrap}
section.n-fail h2,section.n-error h2{background:var(--fail-bg)}section.n-warn h2{background:var(--warn-bg)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
table.checks{table-layout:fixed;min-width:1000px}
.w-status{width:6.8em}.w-name{width:18%}.w-type{width:12%}.w-col{width:8%}.w-sev{width:5em}
.w-num{width:8em}.w-quar{width:6.6em}
table.checks th{font-size:12px;color:var(--muted);font-weight:600;text-align:left;padding:6px 10px;
border-bottom:1px solid var(--border);white-space:nowrap}
table.checks td{padding:7px 10px;vertical-align:top}
td.msg pre{white-space:pre-wrap;overflow-wrap:anywhere}
td.msg details{margin:2px 0 0}
tbody.check{border-bottom:1px solid var(--border)}tbody.check:last-child{border-bottom:0}
tbody.check:hover{background:color-mix(in srgb,var(--link) 4%,transparent)}
td.name{overflow-wrap:break-word;font-weight:500}
td.msg{overflow-wrap:break-word}td.msg .m{white-space:pre-line}
table.checks td code{overflow-wrap:break-word}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pct{color:var(--muted);font-size:11.5px}
.sev-warn{color:var(--warn);font-weight:600}
td code{background:var(--code);padding:0 4px;border-radius:4px}
tr.detail td{padding:0 10px 10px 10px}
details{margin:4px 0}
summary{cursor:pointer;color:var(--link);font-size:12.5px;user-select:none}
pre{background:var(--code);border:1px solid var(--border);border-radius:6px;padding:10px;margin:6px 0 0;
overflow:auto;max-height:420px;white-space:pre}
pre code{background:none;padding:0}
table.rows{width:auto;margin-top:6px;font-size:12.5px}
table.rows th,table.rows td{border:1px solid var(--border);padding:3px 8px;text-align:left;
font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;max-width:420px}
table.rows th{background:var(--code)}
td.null{color:var(--muted);font-style:italic}
dl.gx{display:flex;flex-wrap:wrap;gap:6px 22px;margin:4px 0}
dl.gx dt{color:var(--muted);font-size:11.5px}dl.gx dd{margin:0}
body.hide-pass tbody.st-pass{display:none}
.empty{padding:30px;text-align:center;color:var(--muted)}
footer{color:var(--muted);font-size:12px;margin-top:24px;text-align:center}
@media print{.toolbar,nav{display:none}details{display:block}body{max-width:none}}
"""

_JS = """
(function(){
var cb=document.getElementById('hide-pass'),q=document.getElementById('q');
if(!cb||!q)return;
var checks=[].slice.call(document.querySelectorAll('tbody.check'));
var nodes=[].slice.call(document.querySelectorAll('section.node'));
function apply(){
  var hide=cb.checked,t=q.value.trim().toLowerCase();
  document.body.classList.toggle('hide-pass',hide);
  checks.forEach(function(b){b.hidden=!!t&&b.getAttribute('data-search').indexOf(t)<0;});
  nodes.forEach(function(s){
    var sel='tbody.check:not([hidden])'+(hide?':not(.st-pass)':'');
    s.hidden=!s.querySelector(sel);
  });
}
cb.addEventListener('change',apply);q.addEventListener('input',apply);apply();
})();
"""
