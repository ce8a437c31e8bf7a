"""Jinja runs sandboxed, and a parse cache shipped in a repository is never unpickled."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

ESCAPES = {
    "globals": '{{ cycler.__init__.__globals__.os.popen("touch PWNED").read() }}',
    "module chain": '{{ modules.re.enum.sys.modules["os"].system("touch PWNED") }}',
    "datetime sys": '{{ modules.datetime.sys.modules["os"].system("touch PWNED") }}',
    "renderer": "{% do config.renderer.code_cache.used_templates.clear() %}",
    "class walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "format": '{{ "{0.__class__.__init__.__globals__}".format(ref) }}',
    "adapter plumbing": "{{ adapter._warehouse.engine }}",
    "model plumbing": "{{ model._renderer.code_cache }}",
    "pytz files": "{{ modules.pytz.open_resource('UTC') }}",
    "relation class": "{{ api.Relation.create.__func__.__globals__ }}",
    "dbt namespace": "{{ dbt._macros }}",
    "target getattr": "{% set ga = target.get('__class__').get %}{{ ga(ga, '__globals__')['os'].popen('touch PWNED').read() }}",
    "target item": "{{ target['__class__'] }}",
    "model item": "{{ model.get('__class__') }}{{ model['_renderer'] }}",
    "relation item": "{{ ref('x')['__class__'] }}",
}


@pytest.mark.parametrize("template", ESCAPES.values(), ids=ESCAPES.keys())
def test_template_cannot_reach_python(
    make_project: Callable[..., Path], cli, template: str
) -> None:
    root = make_project({"models/m.sql": f"select 1 as x -- {template}\n"})
    os.chdir(root)
    res = cli("compile", "--project-dir", root)
    assert res.code == 2, res.out + res.err
    assert "models/m.sql" in res.err and "[m]" in res.err
    assert not (root / "PWNED").exists()


def test_modules_and_macros_still_work(make_project: Callable[..., Path], cli) -> None:
    root = make_project(
        {
            "models/m.sql": (
                "select '{{ modules.datetime.date(2026, 1, 2).isoformat() }}' as d, "
                "'{{ modules.re.sub('[0-9]', '#', 'a1b2') }}' as r, "
                "{{ modules.itertools.chain([1], [2]) | list | length }} as n, "
                "'{{ (modules.datetime.datetime(2026, 1, 1) + modules.datetime.timedelta(days=1)).strftime('%Y-%m-%d') }}' as t"
            )
        }
    )
    res = cli("compile", "--project-dir", root, "--print")
    assert res.code == 0, res.err
    assert "'2026-01-02' as d, 'a#b#' as r, 2 as n, '2026-01-02' as t" in res.out


class _Payload:
    def __reduce__(self) -> tuple:
        return (os.system, ("touch PWNED",))


def _cache_files(root: Path) -> list[Path]:
    return sorted((root / ".headwater" / "cache").glob("*.pickle"))


def test_a_shipped_parse_cache_is_never_unpickled(
    make_project: Callable[..., Path], cli, monkeypatch
) -> None:
    root = make_project({"models/m.sql": "select 1 as x\n"})
    monkeypatch.chdir(root)
    assert cli("ls", "--project-dir", root).code == 0
    files = _cache_files(root)
    assert {p.name.split("-")[0] for p in files} == {"manifest", "parse.pickle"}
    # what a repository could ship: plain pickles under the names headwater reads
    for path in files:
        path.write_bytes(pickle.dumps(_Payload()))
    res = cli("ls", "--project-dir", root)
    assert res.code == 0 and "m" in res.out
    assert not (root / "PWNED").exists()


def test_a_cache_sealed_by_another_key_is_ignored(
    make_project: Callable[..., Path], cli, monkeypatch, tmp_path: Path
) -> None:
    import headwater.private as private

    root = make_project({"models/m.sql": "select 1 as x\n"})
    monkeypatch.chdir(root)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "attacker_home"))
    monkeypatch.setattr(private, "_KEY", None)
    evil = private.seal(pickle.dumps(_Payload()))
    assert evil is not None
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_home"))
    monkeypatch.setattr(private, "_KEY", None)
    assert cli("ls", "--project-dir", root).code == 0
    for path in _cache_files(root):
        path.write_bytes(evil)
    assert cli("ls", "--project-dir", root).code == 0
    assert not (root / "PWNED").exists()
    key = private.key_path()
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700


def test_warm_cache_is_used(make_project: Callable[..., Path], monkeypatch) -> None:
    from headwater.context import Context

    root = make_project({"models/m.sql": "select 1 as x\n"})
    monkeypatch.chdir(root)
    with Context(root) as ctx:
        assert not ctx.manifest.from_cache
    with Context(root) as ctx:
        assert ctx.manifest.from_cache
