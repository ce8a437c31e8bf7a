"""`headwater lake history|optimize|vacuum`: the README's commands run verbatim on a project with a
Delta mart, `--json` prints the results' `to_dict()`, and the exit codes (0 done, 1 the table or
its format failed, 2 a bad name or option). delta-rs reads the table back independently."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headwater.context import Context
from tests.conftest import CliResult, write_files

deltalake = pytest.importorskip("deltalake", reason="pip install -e '.[lake]' installs deltalake")

README_COMMANDS = [
    "headwater lake history fct_web_events --limit 5",
    "headwater lake optimize fct_web_events",
    "headwater lake optimize fct_web_events --zorder customer_id --target-size 134217728",
    "headwater lake vacuum fct_web_events --dry-run",
    "headwater lake vacuum fct_web_events",
    "headwater lake vacuum fct_web_events --retain 0h --dry-run",
    'headwater query "select count(*) as events from fct_web_events"',
]
"""The commands of the README's "Lake table maintenance" section, exactly as written there."""

FCT_WEB_EVENTS = """\
{{ config(materialized='delta', incremental_strategy='append', partition_by=['event_date']) }}
select event_id, customer_id, cast(event_date as date) as event_date, page
from {{ ref('events') }}
{% if is_incremental() %} where event_id > (select max(event_id) from {{ this }}) {% endif %}
"""
"""Named and shaped as the demo's `fct_web_events`, so the README's commands run on both."""
DAYS = ("2026-01-01", "2026-01-02")


def _events(batches: int) -> str:
    rows = [(b * 4 + k, (b * 7 + k) % 5, DAYS[k % 2], f"/p{k}") for b in range(batches)
            for k in range(4)]  # fmt: skip
    return "event_id,customer_id,event_date,page\n" + "".join(
        f"{i},{c},{d},{p}\n" for i, c, d, p in rows
    )


@pytest.fixture
def shop(make_project: Callable[..., Path]) -> Path:
    """`fct_web_events` as a Delta table built by 4 appends: 8 small files in 2 partitions."""
    root = make_project({"seeds/events.csv": _events(1),
                         "models/marts/fct_web_events.sql": FCT_WEB_EVENTS,
                         "models/marts/dim.sql": "select 1 as x"})  # fmt: skip
    for batches in range(1, 5):
        write_files(root, {"seeds/events.csv": _events(batches)})
        with Context(root) as ctx:
            assert ctx.build().exit_code == 0
    return root


def _delta(root: Path) -> Any:
    return deltalake.DeltaTable(str(root / "lake" / "main" / "fct_web_events"))


def _run(cli: Callable[..., CliResult], command: str) -> CliResult:
    argv = shlex.split(command, comments=True)
    assert argv[0] == "headwater", command
    return cli(*argv[1:])


def test_the_readme_commands_run(shop: Path, cli: Callable[..., CliResult],
                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(shop)
    table = _delta(shop)
    rows = table.to_pyarrow_table().num_rows
    files = len(table.get_add_actions().column("path").to_pylist())
    assert files == 8
    out = {}
    for command in README_COMMANDS:
        res = _run(cli, command)
        assert res.code == 0, f"{command}\n{res.out}\n{res.err}"
        out[command] = res.out
    history, optimize, zorder, dry, vacuum, dry0, count = (out[c] for c in README_COMMANDS)
    assert "3 (current)" in history and "WRITE (append)" in history
    assert "4 versions shown" in history
    assert "8 files replaced by 2" in optimize and "version 4" in optimize
    assert "z-ordered by customer_id" in zorder
    assert "would delete 0 files" in dry and "deleted 0 files" in vacuum  # all inside 168h
    # with no window, the 8 appended files and the 2 compacted ones would go
    assert "would delete 10 files" in dry0
    assert re.search(rf"^events\s*\n-+\s*\n{rows}\s*$", count, re.M), count
    after = _delta(shop)
    assert after.version() == 5 and after.to_pyarrow_table().num_rows == rows
    assert len(after.get_add_actions().column("path").to_pylist()) == 2


def test_json_is_the_results_to_dict(shop: Path, cli: Callable[..., CliResult]) -> None:
    res = cli("lake", "history", "fct_web_events", "--json", "--project-dir", shop)
    assert res.code == 0
    history = json.loads(res.out)
    assert [v["version"] for v in history["versions"]] == [
        h["version"] for h in _delta(shop).history()
    ]
    assert history["versions"][0]["details"]["headwater.node"] == "model.t.fct_web_events"
    res = cli("lake", "optimize", "fct_web_events", "--json", "--project-dir", shop)
    optimized = json.loads(res.out)
    assert res.code == 0 and optimized["files_before"] == 8
    current = set(_delta(shop).get_add_actions().column("path").to_pylist())
    assert set(optimized["added"]) == current and optimized["version_after"] == 4
    res = cli("lake", "vacuum", "fct_web_events", "--retain", "0h", "--json", "--project-dir", shop)
    vacuumed = json.loads(res.out)
    assert res.code == 0 and set(vacuumed["removed"]) == set(optimized["removed"])
    assert vacuumed["retain_seconds"] == 0 and vacuumed["dry_run"] is False
    folder = shop / "lake" / "main" / "fct_web_events"
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")}
    assert on_disk == current


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lake", "history", "fct_web_event"], "did you mean `fct_web_events`"),
        (["lake", "optimize", "dim"], "not a lake table"),
        (["lake", "vacuum", "fct_web_events", "--retain", "soon"], "not a duration"),
        (["lake", "history", "fct_web_events", "--limit", "0"], "at least 1"),
        (["lake", "optimize", "fct_web_events", "--zorder", "event_date"], "partition column"),
        (["lake", "optimize", "fct_web_events", "--target-size", "-5"], "positive number of bytes"),
    ],
)
def test_usage_errors_exit_2(shop: Path, cli: Callable[..., CliResult], args: list[str],
                             message: str) -> None:  # fmt: skip
    version = _delta(shop).version()
    res = cli(*args, "--project-dir", shop)
    assert res.code == 2 and message in res.err and "Traceback" not in res.err, res.err
    assert "hint:" in res.err
    assert _delta(shop).version() == version


def test_failures_exit_1(make_project: Callable[..., Path], cli: Callable[..., CliResult]) -> None:
    root = make_project({"models/m.sql": "{{ config(materialized='delta') }}\nselect 1 as x"})
    res = cli("lake", "optimize", "m", "--project-dir", root)  # not built yet
    assert res.code == 1 and "no delta table" in res.err and "headwater build -s m" in res.err
    write_files(root, {"models/m.sql": "{{ config(materialized='parquet') }}\nselect 1 as x"})
    assert cli("build", "--project-dir", root).code == 0
    assert cli("lake", "history", "m", "--project-dir", root).code == 0
    res = cli("lake", "optimize", "m", "--project-dir", root)
    assert res.code == 1 and "cannot be compacted" in res.err and "--full-refresh" in res.err
    res = cli("lake", "vacuum", "m", "--project-dir", root)
    assert res.code == 1 and "keeps no files beyond its current version" in res.err
    pytest.importorskip("pyiceberg", reason="pip install -e '.[lake]' installs pyiceberg")
    write_files(root, {"models/ice.sql": "{{ config(materialized='iceberg') }}\nselect 1 as x"})
    assert cli("build", "--project-dir", root).code == 0
    res = cli("lake", "optimize", "ice", "--project-dir", root)
    assert res.code == 1 and "Traceback" not in res.err
    assert "models/ice.sql:1" in res.err and "cannot be compacted" in res.err and "hint:" in res.err


def test_lake_needs_an_action(cli: Callable[..., CliResult],
                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        cli("lake")
    assert exc.value.code == 2 and "required: ACTION" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli("lake", "--help")
    out = capsys.readouterr().out
    assert exc.value.code == 0 and all(a in out for a in ("history", "optimize", "vacuum"))
