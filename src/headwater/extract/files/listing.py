"""Which files a `files` / `s3` source reads: its ``path`` glob matched against a local folder
(relative to `base_dir`) or an S3 bucket's keys (`headwater.extract.files.s3`), sorted by the
name each file is recorded under.
"""

from __future__ import annotations

import glob as globlib
import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ListedFile:
    """A file a source's glob matched."""

    key: str
    """The file's name in `source_file` and `state.loaded_files`: relative to `base_dir` when
    under it, else absolute; ``s3://bucket/key`` on S3."""
    location: str
    """Local path, or `bucket/key` on S3."""
    size: int | None = None


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex on `/`-separated keys: `*` and `?` stay within a segment, `**` crosses them."""
    out, i, n = "", 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                if pattern.startswith("**/", i):
                    out += "(?:.*/)?"
                    i += 3
                else:
                    out += ".*"
                    i += 2
                continue
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out += "[" + body.replace("\\", "\\\\") + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def has_magic(text: str) -> bool:
    """True when ``text`` holds glob characters."""
    return any(c in text for c in "*?[")


def list_local(base: str, path: str) -> list[ListedFile]:
    """The files ``path`` (a glob, or a folder: everything under it) matches, relative to ``base``
    unless absolute; sorted by key."""
    pattern = os.path.expanduser(path)
    full = pattern if os.path.isabs(pattern) else os.path.join(globlib.escape(base), pattern)
    if os.path.isdir(full):
        full = os.path.join(globlib.escape(full), "**", "*")
    base_abs = os.path.abspath(base)
    out = []
    for p in globlib.glob(full, recursive=True):
        if not os.path.isfile(p):
            continue
        ap = os.path.abspath(p)
        rel = os.path.relpath(ap, base_abs)
        key = (
            Path(ap).as_posix()
            if rel.startswith("..") or os.path.isabs(rel)
            else Path(rel).as_posix()
        )
        out.append(ListedFile(key=key, location=ap, size=os.path.getsize(ap)))
    return sorted(out, key=lambda f: f.key)
