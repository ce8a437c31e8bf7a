"""The manifest cache: warm loads skip YAML/Jinja/sqlglot, changed files are picked up."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from headwater.context import Context

SOURCES = """\
version: 2
sources:
  - name: raw
    schema: raw
    tables:
      - name: t
        meta: {owner: {team: data}}
        columns: [{name: id, tests: [unique]}]
"""


def test_warm_load_does_not_import_parsers(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "models/staging/schema.yml": SOURCES,
            "models/staging/a.sql": "select {{ var('x', 1) }} as id",
            "models/marts/b.sql": "select * from {{ ref('a') }}",
        }
    )
    assert not Context(root).manifest.from_cache  # cold: writes the cache
    code = (
        "import sys; from headwater.context import Context; m = Context(sys.argv[1]).manifest;"
        "assert m.from_cache, 'not from cache';"
        "bad = [x for x in ('yaml', 'jinja2', 'sqlglot') if x in sys.modules];"
        "assert not bad, bad; print(sorted(m.nodes))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "model.t.b" in proc.stdout
    # what came from YAML unpickles as plain containers, still holding its values
    node = Context(root).manifest.nodes["source.t.raw.t"]
    assert type(node.meta) is dict and node.meta == {"owner": {"team": "data"}}


def test_changed_model_is_recompiled_with_cached_templates(
    make_project: Callable[..., Path],
) -> None:
    root = make_project(
        {
            "models/staging/a.sql": "select {{ var('x', 1) }} as id",
            "models/staging/c.sql": "select 3 as id",
        }
    )
    Context(root).manifest  # noqa: B018 - fills the caches
    (root / "models/staging/c.sql").write_text(
        "select {{ var('x', 1) + 1 }} as id\n", encoding="utf-8"
    )
    manifest = Context(root).manifest
    assert not manifest.from_cache
    assert manifest.nodes["model.t.a"].compiled_sql.strip() == "select 1 as id"
    assert manifest.nodes["model.t.c"].compiled_sql.strip() == "select 2 as id"
    compiled = root / ".headwater/compiled/models/staging/c.sql"
    assert compiled.read_text(encoding="utf-8").strip() == "select 2 as id"
