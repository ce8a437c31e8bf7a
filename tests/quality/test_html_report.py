"""The HTML quality report: rendered from a real state store, parsed with html.parser."""

from __future__ import annotations

import itertools
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from headwater.cli.render.quality_report import render_quality_report, write_quality_report
from headwater.errors import UsageError
from headwater.state.records import CheckRecord
from headwater.state.sqlite import SQLiteStateStore

VOID = {"meta", "br", "input", "img", "hr", "link", "col", "wbr", "source", "area", "base", "embed"}


class Tree(HTMLParser):
    """Collects elements (tag, attrs, text inside) and checks that tags nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[dict[str, Any]] = []
        self.elements: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = self._element(tag, attrs)
        if tag not in VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)

    def _element(self, tag: str, attrs: list[tuple[str, str | None]]) -> dict[str, Any]:
        el: dict[str, Any] = {
            "tag": tag,
            "attrs": dict(attrs),
            "text": [],
            "ancestors": list(self.stack),
        }
        el["classes"] = set((el["attrs"].get("class") or "").split())
        el["parents"] = [a["tag"] for a in self.stack]
        self.elements.append(el)
        return el

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1]["tag"] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1]['tag'] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        for el in self.stack:
            el["text"].append(data)
        if self.stack and self.stack[-1]["tag"] == "script":
            self.scripts.append(data)

    def find(
        self, tag: str, cls: str | None = None, within: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Elements by tag (and class), optionally only those inside ``within``."""
        return [
            e
            for e in self.elements
            if e["tag"] == tag
            and (cls is None or cls in e["classes"])
            and (within is None or any(a is within for a in e["ancestors"]))
        ]


def parse(text: str) -> Tree:
    tree = Tree()
    tree.feed(text)
    tree.close()
    assert tree.errors == []
    assert tree.stack == [], [e["tag"] for e in tree.stack]
    return tree


def text_of(el: dict[str, Any]) -> str:
    return "".join(el["text"])


def check(name: str, status: str, failures: int = 0, **kw: Any) -> dict[str, Any]:
    row = {
        "unique_id": f"test.shop.{name}",
        "name": name,
        "check": "unique",
        "node": "main.orders",
        "column": "order_id",
        "severity": "error",
        "status": status,
        "failures": failures,
        "message": "" if status == "pass" else f"{failures} duplicated values",
        "query": "select order_id from main.orders group by 1 having count(*) > 1",
        "sample": [],
        "duration": 0.01,
        "rows": None,
        "quarantined": None,
        "result": None,
    }
    row.update(kw)
    return row


_ids = itertools.count()


def record(store: SQLiteStateStore, checks: list[dict[str, Any]], command: str = "test") -> str:
    """One finished invocation with these check results; returns its id."""
    inv = f"inv{next(_ids):05d}-0000-4000-8000-000000000000"
    store.runs.start(inv, command, {"select": None}, "dev")
    for c in checks:
        store.checks.record(CheckRecord.of(inv, c))
    store.runs.finish(
        inv, "failed" if any(c["status"] == "fail" for c in checks) else "success", {}
    )
    time.sleep(0.005)  # distinct started_at / recorded_at ordering
    return inv


@pytest.fixture
def store(tmp_path: Path):
    s = SQLiteStateStore(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def runs(store: SQLiteStateStore) -> list[str]:
    """Four invocations; `orders_unique` goes pass, warn, fail, fail, with other checks around."""
    statuses = [("pass", 0), ("warn", 3), ("fail", 7), ("fail", 12)]
    ids = []
    for i, (status, failures) in enumerate(statuses):
        checks = [
            check("orders_unique", status, failures, rows=1000),
            check("orders_not_null", "pass", check="not_null", column="customer_id"),
            check("customers_ok", "pass", node="main.customers", column="id"),
        ]
        if i == 3:
            checks.append(
                check(
                    "no_negative_totals",
                    "warn",
                    2,
                    check="singular",
                    node=None,
                    column=None,
                    severity="warn",
                    message="2 failing rows, e.g. (note='<script>alert(1)</script>')",
                    sample=[
                        {"order_id": 1, "note": "<script>alert(1)</script>"},
                        {"order_id": 2, "note": None},
                    ],
                    quarantined=2,
                )
            )
        ids.append(record(store, checks))
    return ids


def check_rows(tree: Tree) -> dict[str, dict[str, Any]]:
    """Each check's <tbody> by check name."""
    return {text_of(tree.find("td", "name", within=b)[0]): b for b in tree.find("tbody", "check")}


def spark(tree: Tree, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A check's sparkline and its bars."""
    svg = tree.find("svg", "spark", within=body)[0]
    return svg, tree.find("rect", "bar", within=svg)


def test_latest_invocation_by_default_with_statuses_and_counts(
    store: SQLiteStateStore, runs: list[str]
) -> None:
    tree = parse(render_quality_report(store, project="shop"))
    header = tree.find("header")[0]
    assert runs[-1][:8] in text_of(header)
    assert "headwater test" in text_of(header) and "dev" in text_of(header)
    assert "shop" in text_of(tree.find("h1")[0])
    counts = {
        e["attrs"]["data-count"]: text_of(e) for e in tree.elements if "data-count" in e["attrs"]
    }
    assert counts == {
        "total": "4",
        "pass": "2",
        "warn": "1",
        "fail": "1",
        "error": "0",
        "quar": "2",
    }
    rows = check_rows(tree)
    assert set(rows) == {"orders_unique", "orders_not_null", "customers_ok", "no_negative_totals"}
    assert "st-fail" in rows["orders_unique"]["classes"]
    assert "st-warn" in rows["no_negative_totals"]["classes"]
    assert "st-pass" in rows["customers_ok"]["classes"]
    # the status is written out, not only a colour
    assert (
        text_of(tree.find("span", "badge", within=rows["orders_unique"])[0]).strip()
        == "\u2715 FAIL"
    )
    assert (
        text_of(tree.find("span", "badge", within=rows["customers_ok"])[0]).strip() == "\u2713 PASS"
    )
    assert "FAIL" in text_of(tree.find("span", "big")[0])  # the overall verdict
    # failures, with the percentage of the rows checked
    assert "1.2% of 1,000" in text_of(rows["orders_unique"])
    assert "12 duplicated values" in text_of(rows["orders_unique"])
    # the filter to hide passing checks
    assert tree.find("input")[0]["attrs"]["id"] == "hide-pass"


def test_nodes_ordered_failures_first_and_singular_group(
    store: SQLiteStateStore, runs: list[str]
) -> None:
    tree = parse(render_quality_report(store))
    sections = tree.find("section", "node")
    assert [s["attrs"]["class"] for s in sections] == ["node n-fail", "node n-warn", "node n-pass"]
    headings = [text_of(tree.find("h2", within=s)[0]) for s in sections]
    assert headings[0].startswith("\u2715 FAIL main.orders")
    assert "Singular tests" in headings[1]
    assert "main.customers" in headings[2]
    # inside a node, failing checks come before passing ones
    assert [text_of(e) for e in tree.find("td", "name", within=sections[0])] == [
        "orders_unique",
        "orders_not_null",
    ]
    # the navigation links to the nodes that need attention
    chips = [a["attrs"]["href"] for a in tree.find("a", "chip")]
    assert chips == [f"#{s['attrs']['id']}" for s in sections[:2]]
    assert "2 nodes need attention and 1 where every check passed" in text_of(tree.find("nav")[0])


def test_natural_order_of_nodes(store: SQLiteStateStore) -> None:
    record(store, [check(f"c{i}", "pass", node=f"main.m{i}") for i in (10, 2, 1)])
    tree = parse(render_quality_report(store))
    assert [text_of(tree.find("code", within=s)[0]) for s in tree.find("section", "node")] == [
        "main.m1", "main.m2", "main.m10",
    ]  # fmt: skip
    assert "Every check passed on all 3 nodes" in text_of(tree.find("nav")[0])


def test_trend_has_one_bar_per_run(store: SQLiteStateStore, runs: list[str]) -> None:
    tree = parse(render_quality_report(store))
    rows = check_rows(tree)
    svg, bars = spark(tree, rows["orders_unique"])
    assert len(bars) == 4
    assert svg["attrs"]["aria-label"] == "last 4 runs: 2 fail, 1 pass, 1 warn"
    assert [next(c for c in b["classes"] if c.startswith("s-")) for b in bars] == [
        "s-pass", "s-warn", "s-fail", "s-fail",
    ]  # fmt: skip
    assert "cur" in bars[-1]["classes"]  # this invocation's run is marked
    titles = [text_of(tree.find("title", within=b)[0]) for b in bars]
    assert titles[-1].endswith("FAIL · 12 failures of 1,000 rows")
    assert titles[0].startswith(time.strftime("%Y-", time.gmtime())) and "Z · PASS" in titles[0]
    heights = [int(b["attrs"]["height"]) for b in bars]
    assert heights[0] < heights[1] < heights[2] < heights[3]  # bar height follows the failures
    # the singular test ran once: one bar
    assert len(spark(tree, rows["no_negative_totals"])[1]) == 1
    # the overall trend: one group per past invocation, failed and warned stacked
    overall = tree.find("g", "run")
    assert len(overall) == 4
    assert "cur" in overall[-1]["classes"]
    assert "1 failed, 1 warned, 0 errored, 2 passed of 4 checks" in text_of(overall[-1])
    assert [len(tree.find("rect", "bar", within=g)) for g in overall] == [1, 1, 1, 2]
    assert "s-pass" in tree.find("rect", "bar", within=overall[0])[0]["classes"]


def test_history_limit(store: SQLiteStateStore, runs: list[str]) -> None:
    tree = parse(render_quality_report(store, history=2))
    svg, bars = spark(tree, check_rows(tree)["orders_unique"])
    assert len(bars) == 2 and svg["attrs"]["aria-label"] == "last 2 runs: 2 fail"
    assert len(tree.find("g", "run")) == 2


def test_sample_rendered_and_escaped(store: SQLiteStateStore, runs: list[str]) -> None:
    html = render_quality_report(store)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    tree = parse(html)
    scripts = tree.find("script")
    assert len(scripts) == 1 and "alert" not in text_of(scripts[0])  # only the report's own filter
    row = check_rows(tree)["no_negative_totals"]
    assert "&lt;script&gt;" in html.split("no_negative_totals", 1)[1]  # in the message too
    assert "<script>alert(1)</script>" in text_of(
        tree.find("td", "msg", within=row)[0]
    )  # text, not markup
    table = tree.find("table", "rows", within=row)[0]
    assert [text_of(th) for th in tree.find("th", within=table)] == ["order_id", "note"]
    cells = [
        [text_of(td) for td in tree.find("td", within=tr)]
        for tr in tree.find("tr", within=table)[1:]
    ]
    assert cells == [["1", "<script>alert(1)</script>"], ["2", "null"]]
    assert "null" in tree.find("td", within=table)[-1]["classes"]
    assert (
        "open" in tree.find("details", "sample", within=row)[0]["attrs"]
    )  # shown for a failing check
    # passing checks have no sample table
    assert not tree.find("table", "rows", within=check_rows(tree)["customers_ok"])


def test_escapes_names_nodes_sql_and_messages(store: SQLiteStateStore) -> None:
    record(
        store,
        [
            check(
                'x"><img src=x onerror=alert(1)>',
                "error",
                node="main.<b>bold</b>",
                message="<script>alert('m')</script>",
                query="select '<script>' as s",
                check="<i>t</i>",
            )
        ],
    )
    html = render_quality_report(store, project="<em>p</em>")
    tree = parse(html)
    assert not tree.find("img") and not tree.find("i") and not tree.find("em")
    assert all(text_of(b).strip().isdigit() for b in tree.find("b"))  # only the nav's counters
    assert len(tree.find("script")) == 1
    assert "&lt;script&gt;alert(&#x27;m&#x27;)&lt;/script&gt;" in html
    assert "select &#x27;&lt;script&gt;&#x27; as s" in html
    assert "&lt;em&gt;p&lt;/em&gt;" in html
    assert 'x"><img src=x onerror=alert(1)>' in check_rows(tree)
    assert "main.<b>bold</b>" in text_of(tree.find("section", "node")[0])
    errored = next(e for e in tree.elements if e["attrs"].get("data-count") == "error")
    assert text_of(errored) == "1"
    assert "\u2298 ERROR" in text_of(tree.find("span", "big")[0])


def test_sample_capped_at_20_rows(store: SQLiteStateStore) -> None:
    sample = [{"id": i, "payload": {"k": [i]}, "long": "x" * 500} for i in range(50)]
    record(store, [check("big", "fail", 50, sample=sample)])
    tree = parse(render_quality_report(store))
    table = tree.find("table", "rows")[0]
    assert len(tree.find("tr", within=table)) == 1 + 20
    assert "(20 of 50 rows)" in text_of(tree.find("details", "sample")[0])
    cells = tree.find("td", within=table)
    long_cell = next(e for e in cells if "title" in e["attrs"])
    assert long_cell["attrs"]["title"] == "x" * 500 and len(text_of(long_cell)) == 200
    assert text_of(cells[1]) == '{"k": [0]}'


def test_expectation_result_highlighted_and_collapsed(store: SQLiteStateStore) -> None:
    gx = {
        "success": False,
        "expectation_config": {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "amount", "min_value": 0},
        },
        "result": {
            "element_count": 200,
            "unexpected_count": 4,
            "unexpected_percent": 2.0,
            "partial_unexpected_list": [-1, -3, "<x>"],
        },
    }
    expectation = check(
        "amount_between",
        "fail",
        4,
        check="expect_column_values_to_be_between",
        column="amount",
        rows=200,
        result=gx,
    )
    record(store, [expectation])
    tree = parse(render_quality_report(store))
    row = check_rows(tree)["amount_between"]
    dl = tree.find("dl", "gx", within=row)[0]
    shown = dict(
        zip(
            map(text_of, tree.find("dt", within=dl)),
            map(text_of, tree.find("dd", within=dl)),
            strict=True,
        )
    )
    assert shown == {
        "unexpected_count": "4",
        "unexpected_percent": "2.0",
        "partial_unexpected_list": '[-1, -3, "<x>"]',
    }
    result = tree.find("details", "result", within=row)[0]
    assert "open" not in result["attrs"]
    assert '"element_count": 200' in text_of(result) and '\n  "result": {' in text_of(result)
    sql = tree.find("details", "sql", within=row)[0]
    assert "open" not in sql["attrs"] and "select order_id" in text_of(sql)
    assert "2% of 200" in text_of(row)
    assert "expect_column_values_to_be_between" in text_of(row)

    # an expectation that could not run: its exception is shown, not buried in the JSON
    gx_error = {
        "success": False,
        "result": {},
        "exception_info": {
            "raised_exception": True,
            "exception_message": "column <amount> not found",
        },
    }
    record(
        store,
        [
            check(
                "amount_error",
                "error",
                result=gx_error,
                check="expect_column_values_to_not_be_null",
            )
        ],
    )
    tree = parse(render_quality_report(store))
    dl = tree.find("dl", "gx", within=check_rows(tree)["amount_error"])[0]
    assert [text_of(e) for e in tree.find("dd", within=dl)] == ["column <amount> not found"]


def test_specific_invocation_and_prefix(store: SQLiteStateStore, runs: list[str]) -> None:
    tree = parse(render_quality_report(store, runs[1]))
    assert runs[1][:8] in text_of(tree.find("header")[0])
    rows = check_rows(tree)
    assert "st-warn" in rows["orders_unique"]["classes"]
    assert "no_negative_totals" not in rows
    # a past invocation's trend stops at that invocation
    svg, bars = spark(tree, rows["orders_unique"])
    assert len(bars) == 2 and svg["attrs"]["aria-label"] == "last 2 runs: 1 pass, 1 warn"
    assert len(tree.find("g", "run")) == 2
    # a unique prefix works (the report shows 8 characters)
    assert runs[2][:8] in text_of(
        parse(render_quality_report(store, runs[2][:8])).find("header")[0]
    )
    with pytest.raises(UsageError, match="no invocation `nope`"):
        render_quality_report(store, "nope")
    with pytest.raises(UsageError, match="ambiguous"):
        render_quality_report(store, "inv")


def test_usage_error_when_nothing_recorded(store: SQLiteStateStore) -> None:
    with pytest.raises(UsageError, match="no check results recorded yet") as info:
        render_quality_report(store)
    assert "headwater test" in (info.value.hint or "")
    # an invocation without checks does not count either
    store.runs.start("only-run", "run", {}, "dev")
    store.runs.finish("only-run", "success", {})
    with pytest.raises(UsageError):
        write_quality_report(store, store.path.parent / "q.html")
    assert not (store.path.parent / "q.html").exists()


def test_invocation_without_checks_renders_empty(store: SQLiteStateStore, runs: list[str]) -> None:
    store.runs.start("build-no-tests", "build", {}, "dev")
    store.runs.finish("build-no-tests", "success", {})
    tree = parse(render_quality_report(store, "build-no-tests"))
    assert "No checks ran" in text_of(tree.find("main")[0])
    assert text_of(tree.find("span", "big")[0]).endswith("NO CHECKS")


def test_unflushed_results_are_included(store: SQLiteStateStore) -> None:
    store.runs.start("in-process", "test", {}, "dev")
    store.checks.record(CheckRecord.of("in-process", check("queued", "fail", 1)))
    tree = parse(render_quality_report(store, "in-process"))
    assert "queued" in check_rows(tree)
    assert "still running" in text_of(tree.find("header")[0])


def test_write_is_atomic(store: SQLiteStateStore, runs: list[str], tmp_path: Path) -> None:
    out = tmp_path / "reports" / "quality.html"
    assert write_quality_report(store, out, project="shop") == out
    text = out.read_text(encoding="utf-8")
    parse(text)
    assert text.startswith("<!DOCTYPE html>")
    out.write_text("old", encoding="utf-8")
    assert write_quality_report(store, str(out), runs[0]) == out
    assert runs[0][:8] in out.read_text(encoding="utf-8")
    assert [p.name for p in out.parent.iterdir()] == ["quality.html"]  # no temp file left
    assert out.stat().st_mode & 0o777 == 0o644  # readable like any file, not mkstemp's 0600


def test_failed_write_leaves_old_file_and_no_temp(
    store: SQLiteStateStore, runs: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "quality.html"
    out.write_text("old", encoding="utf-8")

    def broken(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("headwater.cli.render.quality_report.os.replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_quality_report(store, out)
    assert out.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "quality.html",
        "state.db",
        "state.db-shm",
        "state.db-wal",
    ]


def test_self_contained(store: SQLiteStateStore, runs: list[str]) -> None:
    html = render_quality_report(store)
    tree = parse(html)
    for e in tree.elements:
        for attr in ("src", "href"):
            value = e["attrs"].get(attr)
            assert value is None or value.startswith("#"), (e["tag"], value)
    assert not tree.find("link") and "@import" not in html and "url(" not in html
    assert "http://" not in html and "https://" not in html


def test_many_checks_fast(store: SQLiteStateStore) -> None:
    n, n_runs = 1000, 30
    for r in range(n_runs):
        inv = f"big-{r:03d}"
        store.runs.start(inv, "test", {}, "dev")
        for i in range(n):
            status = "fail" if (i + r) % 17 == 0 else "warn" if (i + r) % 13 == 0 else "pass"
            failures = 0 if status == "pass" else i
            store.checks.record(
                CheckRecord.of(inv, check(f"c{i}", status, failures, node=f"main.m{i // 10}"))
            )
        store.runs.finish(inv, "failed", {})
    started = time.perf_counter()
    html = render_quality_report(store)
    elapsed = time.perf_counter() - started
    tree = parse(html)
    assert len(tree.find("tbody", "check")) == n
    assert len(tree.find("section", "node")) == 100
    assert (
        sum(1 for e in tree.find("rect", "bar") if "spark" in e["ancestors"][-1]["classes"])
        == n * n_runs
    )
    assert len(tree.find("g", "run")) == n_runs
    assert elapsed < 5, elapsed
