"""Private files: the state folder, the state store, the warehouse, and sealed caches.

`.headwater/` holds failing-row samples, logs and the warehouse itself, so it is created 0700 and
its files 0600 whatever the umask (an existing, wider folder is narrowed on first use).

The parse cache holds pickled objects and compiled template code, which execute when loaded. A
repository can ship a `.headwater/cache/` folder, so a cache file is loaded only if it is **sealed**:
an HMAC-BLAKE2b of its bytes under a key that lives outside every project, in the user's cache
folder (`$XDG_CACHE_HOME/headwater/cache.key`, default `~/.cache/headwater/cache.key`, 0600). A file
sealed by anyone else — a cloned repository, another user — fails the check and is ignored (the
project is parsed again). Without a writable home the cache is simply not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import stat
from collections.abc import Iterator
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
_MAGIC = b"HWSEAL1\n"
_KEY: bytes | None = None


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents as 0700; narrow ``path`` to 0700 if it exists wider."""
    missing = []
    for part in (path, *path.parents):
        if part.exists():
            break
        missing.append(part)
    for part in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it just now
            part.mkdir(mode=DIR_MODE)
    _narrow(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty as 0600 if it does not exist; narrow it to 0600 if it does.
    A missing parent folder is created 0700; an existing one is left as it is."""
    if not path.parent.exists():
        private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        _narrow(path, FILE_MODE)
    return path


def _narrow(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):  # not ours (another user's folder): leave it
        st = path.stat()
        if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & ~mode:
            os.chmod(path, stat.S_IMODE(st.st_mode) & mode)


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files created inside the block (by a library, e.g. DuckDB's database file) are 0600.

    The umask is process-wide: keep the block to the one call that creates the file."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + rename) with mode 0600."""
    if not path.parent.exists():
        private_dir(path.parent)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


# -- sealed caches ---------------------------------------------------------------------------------
def key_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "headwater" / "cache.key"


def _key() -> bytes | None:
    """This user's sealing key, created on first use (None when it cannot be stored)."""
    global _KEY
    if _KEY is not None:
        return _KEY
    path = key_path()
    try:
        private_dir(path.parent)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(32))
        st = path.stat()
        if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
            return None  # a key others can read or write authenticates nothing
        key = path.read_bytes()
    except OSError:
        return None
    if len(key) != 32:
        return None
    _KEY = key
    return key


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.blake2b).digest()


def seal(data: bytes) -> bytes | None:
    """``data`` with a header that `unseal` checks; None when no key can be kept (no caching)."""
    key = _key()
    if key is None:
        return None
    return _MAGIC + _mac(key, data) + data


def unseal(blob: bytes) -> bytes | None:
    """The data of a blob made by `seal` with this user's key, or None (anything else)."""
    key = _key()
    if key is None or not blob.startswith(_MAGIC):
        return None
    size = hashlib.blake2b().digest_size
    mac, data = blob[len(_MAGIC) : len(_MAGIC) + size], blob[len(_MAGIC) + size :]
    if len(mac) != size or not hmac.compare_digest(mac, _mac(key, data)):
        return None
    return data


def read_sealed(path: Path) -> object | None:
    """The object pickled in ``path`` if this user sealed it, else None: a cache shipped with a
    repository (or torn, or from another version) is never unpickled, just rebuilt."""
    import pickle

    try:
        data = unseal(path.read_bytes())
        return None if data is None else pickle.loads(data)
    except Exception:  # missing, torn, from another version: the caller rebuilds it
        return None


def write_sealed(path: Path, obj: object) -> None:
    """Pickle ``obj`` into ``path`` (0600), sealed with this user's key (nothing without a key)."""
    import pickle

    sealed = seal(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    if sealed is not None:
        write_private(path, sealed)
