"""The SQL catalog headwater keeps its Iceberg tables in, and how pyiceberg reaches their files.

* **Where**: SQLite at ``<state folder>/iceberg_catalog.db`` (the folder 0700, the file 0600 like
  all state, in WAL mode so concurrent writers wait for each other instead of failing), or the
  database named by ``HEADWATER_ICEBERG_CATALOG_URI``: a SQLAlchemy URL such as
  ``postgresql+psycopg://etl:…@db/lake`` (``postgresql://`` means psycopg 3, headwater's PostgreSQL
  driver). Its password comes from the environment and is masked in every output.
* **One catalog object per database** (and object-store settings) in a process: SQLAlchemy's
  engine and connection pool are reused by every table and thread.
* **FileIO**: pyiceberg builds it from the catalog's properties, so object-store settings go there,
  from the table location's environment (never into table properties, which other engines read):
  the S3 endpoint (path-style addressing for an S3-compatible server), region and keys, and
  `headwater.lake.iceberg_io.HeadwaterFileIO`.
* **Tables without a catalog of ours**: found by ``metadata/version-hint.text`` (which headwater
  writes after each commit, as Hadoop catalogs do), else by the highest-numbered
  ``*.metadata.json``.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from headwater.lake.storage import TableLocation

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

CATALOG_URI_ENV = "HEADWATER_ICEBERG_CATALOG_URI"
CATALOG_FILE = "iceberg_catalog.db"
CATALOG_NAME = "headwater"
NAMESPACE = "headwater"
FILE_IO = "headwater.lake.iceberg_io.HeadwaterFileIO"

_META_VERSION = re.compile(r"^v?(\d+)(?:-[^/]*)?\.metadata\.json$")
_MAX_CATALOGS = 8
_lock = threading.Lock()
_catalogs: dict[tuple[str, tuple[tuple[str, str], ...]], SqlCatalog] = {}
_prepared: set[Path] = set()


def configured_uri(location: TableLocation) -> str | None:
    """``HEADWATER_ICEBERG_CATALOG_URI`` from the location's environment (registered as a
    secret), or None."""
    from headwater import secrets

    value = (location.env.get(CATALOG_URI_ENV) or "").strip()
    if not value:
        return None
    secrets.register_dsn(value)
    return value


def catalog_uri(location: TableLocation, catalog_dir: str | None) -> str | None:
    """The catalog's SQLAlchemy URL, or None when there is none (no state folder)."""
    configured = configured_uri(location)
    if configured:
        return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", configured)
    if not catalog_dir:
        return None
    return f"sqlite:///{sqlite_file(Path(catalog_dir))}"


def describe(location: TableLocation, catalog_dir: str | None) -> str:
    """The catalog, for messages (without a password)."""
    configured = configured_uri(location)
    if configured:
        from headwater.secrets import mask

        return f"the catalog in {CATALOG_URI_ENV} ({mask(configured)})"
    if catalog_dir:
        return f"the catalog {Path(catalog_dir) / CATALOG_FILE}"
    return "no catalog"


def io_properties(location: TableLocation) -> dict[str, str]:
    """pyiceberg FileIO properties for ``location``, from its environment."""
    if location.scheme != "s3":
        return {}
    opts = location.storage_options()  # registers the secrets
    out = {"s3.region": opts.get("AWS_REGION", location.region()), "py-io-impl": FILE_IO}
    if "AWS_ACCESS_KEY_ID" in opts:
        out["s3.access-key-id"] = opts["AWS_ACCESS_KEY_ID"]
        out["s3.secret-access-key"] = opts["AWS_SECRET_ACCESS_KEY"]
    if "AWS_SESSION_TOKEN" in opts:
        out["s3.session-token"] = opts["AWS_SESSION_TOKEN"]
    endpoint = location.endpoint()
    if endpoint:
        out["s3.endpoint"] = endpoint
        out["s3.force-virtual-addressing"] = "false"
    return out


def open_catalog(uri: str, properties: Mapping[str, str]) -> SqlCatalog:
    """The process's catalog object for ``uri`` with these FileIO properties."""
    key = (uri, tuple(sorted(properties.items())))
    with _lock:
        catalog = _catalogs.get(key)
        if catalog is None:
            catalog = _connect(uri, properties)
            if len(_catalogs) >= _MAX_CATALOGS:
                _catalogs.pop(next(iter(_catalogs))).close()
            _catalogs[key] = catalog
        return catalog


def _connect(uri: str, properties: Mapping[str, str]) -> SqlCatalog:
    from pyiceberg.catalog.sql import SqlCatalog

    try:
        return SqlCatalog(CATALOG_NAME, uri=uri, **properties)
    except Exception:  # two processes creating the catalog's tables at once: the loser retries
        return SqlCatalog(CATALOG_NAME, uri=uri, **properties)


def ensure_namespace(catalog: SqlCatalog) -> None:
    """Create headwater's namespace unless it exists (pyiceberg's ``create_namespace_if_not_exists``
    fails on the catalog's primary key when another writer creates it at the same moment)."""
    try:
        catalog.create_namespace_if_not_exists(NAMESPACE)
    except Exception:
        if not catalog.namespace_exists(NAMESPACE):
            raise


def sqlite_file(folder: Path) -> Path:
    """The catalog's SQLite file: created 0600 in a 0700 folder, in WAL mode."""
    path = folder / CATALOG_FILE
    if path in _prepared:
        return path
    from headwater.private import private_dir, private_file

    with _lock:  # one thread prepares it; another process may be doing the same
        if path in _prepared:
            return path
        private_dir(folder)
        fresh = not path.exists() or path.stat().st_size == 0
        private_file(path)
        if fresh:
            _wal(path)
        _prepared.add(path)
    return path


def _wal(path: Path) -> None:
    """Put the file in WAL mode (kept in the file: every connection uses it). Another process
    switching it at the same moment makes this one fail with "locked": fine once it is WAL."""
    import sqlite3

    con = sqlite3.connect(path, timeout=30)
    try:
        try:
            con.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            mode = con.execute("PRAGMA journal_mode").fetchone()
            if not mode or str(mode[0]).lower() != "wal":
                raise
    finally:
        con.close()


def newest_metadata(location: TableLocation, table_uri: str) -> str | None:
    """The newest metadata file of an Iceberg table at ``location`` (any catalog), or None."""
    from pyarrow import fs

    filesystem, root = location.filesystem()
    folder = f"{root}/metadata"
    infos = filesystem.get_file_info(fs.FileSelector(folder, allow_not_found=True))
    names = {i.base_name: i for i in infos if i.type == fs.FileType.File}
    if "version-hint.text" in names:
        with filesystem.open_input_stream(f"{folder}/version-hint.text") as stream:
            hint = stream.read().decode().strip()
        for name in (hint, f"{hint}.metadata.json", f"v{hint}.metadata.json"):
            if name.endswith(".metadata.json") and name in names:
                return f"{table_uri}/metadata/{name}"
    candidates = []
    for name, info in names.items():
        match = _META_VERSION.match(name)
        if match:
            candidates.append((int(match.group(1)), info.mtime_ns or 0, name))
    if not candidates:
        return None
    return f"{table_uri}/metadata/{max(candidates)[2]}"


class _CatalogLock:
    """A re-entrant lock of one SQLite catalog for this process's threads, holding an ``fcntl``
    lock on ``<catalog>.lock`` while any thread holds it (other processes)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.depth = 0
        self.handle: IO[str] | None = None

    @contextlib.contextmanager
    def held(self, path: str) -> Iterator[None]:
        import fcntl

        with self.lock:
            if self.depth == 0:
                self.handle = open(path + ".lock", "a+")  # noqa: SIM115 - closed below
                fcntl.flock(self.handle, fcntl.LOCK_EX)
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
                if self.depth == 0 and self.handle is not None:
                    fcntl.flock(self.handle, fcntl.LOCK_UN)
                    self.handle.close()
                    self.handle = None


_CATALOG_LOCKS: dict[str, _CatalogLock] = {}
_CATALOG_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def writing(uri: str | None) -> Iterator[None]:
    """One commit at a time on a SQLite catalog: SQLite lets a second writer fail with
    "database is locked" instead of waiting when both began reading first; serialized, the
    second one sees the first's commit and loses the compare-and-swap as it should. Threads
    take a re-entrant lock per catalog file, and the thread holding it an exclusive lock on a
    file beside the catalog (other processes). A PostgreSQL catalog needs neither."""
    if not uri or not uri.startswith("sqlite:///"):
        yield
        return
    path = uri[len("sqlite:///") :]
    with _CATALOG_LOCKS_GUARD:
        lock = _CATALOG_LOCKS.setdefault(path, _CatalogLock())
    with lock.held(path):
        yield
