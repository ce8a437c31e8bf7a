"""A Delta model on Azure Blob Storage: Azurite (the npm package ``azurite``, `npm install -g
azurite`) in its own process, the account and key from the environment, first build and merge,
read back by delta-rs itself. Skipped when ``azurite-blob`` is not on the PATH."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from headwater.context import Context
from headwater.lake.storage import TableLocation
from tests.conftest import write_files

deltalake = pytest.importorskip("deltalake", reason="pip install -e '.[lake]' installs deltalake")
AZURITE = shutil.which("azurite-blob")
if AZURITE is None and os.environ.get("CI") == "true":  # CI installs it (.ci/run): it must run
    pytest.fail("azurite is not installed: `npm install -g azurite`", pytrace=False)
pytestmark = pytest.mark.skipif(AZURITE is None, reason="`npm install -g azurite` installs it")

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's well-known development account (published in its documentation)."""


@pytest.fixture(scope="module")
def azurite() -> Iterator[str]:
    """Azurite's blob service on a free port: its endpoint URL with the account."""
    assert AZURITE is not None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [AZURITE, "--silent", "--inMemoryPersistence", "--skipApiVersionCheck", "--loose",
         "--blobHost", "127.0.0.1", "--blobPort", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "azurite did not start"
                time.sleep(0.05)  # polling for the server to listen, not hiding a race
        yield f"http://127.0.0.1:{port}/{ACCOUNT}"
    finally:
        proc.kill()  # azurite ignores SIGTERM while serving; it keeps nothing on disk here
        proc.wait(timeout=30)


@pytest.fixture
def container(azurite: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh container, and the AZURE_* variables headwater reads."""
    for name, value in {
        "AZURE_STORAGE_ACCOUNT_NAME": ACCOUNT,
        "AZURE_STORAGE_ACCOUNT_KEY": KEY,
        "AZURE_ENDPOINT": azurite,
    }.items():
        monkeypatch.setenv(name, value)
    name = f"lake-{uuid.uuid4().hex[:10]}"
    filesystem, _root = TableLocation.parse(f"az://{name}/x", ".").filesystem()
    filesystem.create_dir(name)  # a container
    return name


def _options(azurite: str) -> dict[str, str]:
    """deltalake's options for an independent reader (not headwater's)."""
    return {
        "azure_storage_account_name": ACCOUNT,
        "azure_storage_account_key": KEY,
        "azure_endpoint": azurite,
        "azure_allow_http": "true",
    }


def test_delta_model_on_azure(
    azurite: str, container: str, make_project: Callable[..., Path]
) -> None:
    uri = f"az://{container}/marts/m"
    model = (
        f"{{{{ config(materialized='delta', location='{uri}', incremental_strategy='merge', "
        "unique_key='id') }}\nselect * from {{ ref('src') }}\n"
    )
    root = make_project({"seeds/src.csv": "id,v\n1,a\n2,b\n", "models/m.sql": model})
    with Context(root) as ctx:
        assert ctx.build().exit_code == 0
    table = deltalake.DeltaTable(uri, storage_options=_options(azurite))
    assert sorted((r["id"], r["v"]) for r in table.to_pyarrow_table().to_pylist()) == [
        (1, "a"), (2, "b")]  # fmt: skip
    write_files(root, {"seeds/src.csv": "id,v\n2,B\n3,c\n"})
    with Context(root) as ctx:
        assert ctx.build().exit_code == 0
        _cols, seen = ctx.query("select id, v from main.m order by id")
    expected = [(1, "a"), (2, "B"), (3, "c")]  # key 2 replaced, key 3 added, key 1 kept
    table = deltalake.DeltaTable(uri, storage_options=_options(azurite))
    assert table.version() == 1
    assert sorted((r["id"], r["v"]) for r in table.to_pyarrow_table().to_pylist()) == expected
    assert seen == expected
    # the key is a registered secret: nothing headwater wrote holds it
    for path in root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
