"""dbt's node selection syntax.

A selection is a list of specs; specs are unioned, and a spec with commas is the intersection of
its parts. Each part is ``[@][N+]selector[+N]`` where ``selector`` is a name (with ``*`` globs or
a dotted fqn prefix such as ``staging``) or ``method:value`` with the methods ``tag``, ``path``,
``file``, ``source``, ``resource_type``, ``fqn``, ``package``, ``test_type``, ``test_name`` and
``config.<key>``.

>>> parse_part("2+orders+")
Part(method='name', value='orders', parents=True, parents_depth=2, children=True, children_depth=None, at=False)
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from headwater.errors import SelectionError, did_you_mean
from headwater.graph.definition import Graph
from headwater.project.definition import Node

METHODS = (
    "name", "tag", "path", "file", "source", "resource_type", "fqn", "package", "test_type",
    "test_name", "config",
)  # fmt: skip
_PART_RE = re.compile(
    r"^(?P<at>@)?(?:(?P<pd>\d*)(?P<p>\+))?(?P<body>.+?)(?:(?P<c>\+)(?P<cd>\d*))?$"
)


@dataclass(frozen=True)
class Part:
    method: str
    value: str
    parents: bool = False
    parents_depth: int | None = None
    children: bool = False
    children_depth: int | None = None
    at: bool = False


def parse_part(text: str) -> Part:
    """Parse one selector like ``2+tag:nightly+`` into a `Part`."""
    text = text.strip()
    match = _PART_RE.match(text)
    if not text or not match:
        raise SelectionError(
            f"cannot read selector `{text}`", hint="write e.g. `orders`, `+orders`, `tag:daily`"
        )
    body = match.group("body")
    method, value = "name", body
    if ":" in body:
        method, value = body.split(":", 1)
        base = method.split(".", 1)[0]
        if base not in METHODS:
            raise SelectionError(
                f"unknown selector method `{method}` in `{text}`" + did_you_mean(method, METHODS),
                hint="methods: " + ", ".join(METHODS),
            )
    if not value:
        raise SelectionError(f"selector `{text}` has no value")
    return Part(
        method=method,
        value=value,
        parents=bool(match.group("p")),
        parents_depth=int(match.group("pd")) if match.group("pd") else None,
        children=bool(match.group("c")),
        children_depth=int(match.group("cd")) if match.group("cd") else None,
        at=bool(match.group("at")),
    )


class Selector:
    """Evaluates selection specs against a graph."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def select(
        self, select: list[str] | None, exclude: list[str] | None = None, *, with_tests: bool = True
    ) -> set[str]:
        """Return the selected unique_ids (all nodes when ``select`` is empty)."""
        specs = [s for item in (select or []) for s in item.split()]
        if specs:
            chosen: set[str] = set()
            for spec in specs:
                chosen |= self._spec(spec)
        else:
            chosen = set(self.graph.nodes)
        if with_tests:
            chosen |= self._attached_tests(chosen)
        for spec in (s for item in (exclude or []) for s in item.split()):
            chosen -= self._spec(spec)
        return chosen

    def _spec(self, spec: str) -> set[str]:
        result: set[str] | None = None
        for part in spec.split(","):
            matched = self._part(parse_part(part))
            result = matched if result is None else result & matched
        return result or set()

    def _part(self, part: Part) -> set[str]:
        base = {uid for uid, node in self.graph.nodes.items() if self._matches(node, part)}
        if not base:
            self._nothing_matched(part)
        out = set(base)
        for uid in base:
            if part.parents:
                out |= self.graph.ancestors(uid, part.parents_depth)
            if part.children or part.at:
                kids = self.graph.descendants(uid, part.children_depth)
                out |= kids
                if part.at:
                    for kid in kids:
                        out |= self.graph.ancestors(kid)
        return out

    def _nothing_matched(self, part: Part) -> None:
        names = sorted({n.name for n in self.graph.nodes.values()})
        hint = "run `headwater ls` to see the node names"
        if part.method == "name":
            raise SelectionError(
                f"no node matches `{part.value}`" + did_you_mean(part.value, names), hint=hint
            )
        if part.method == "tag":
            tags = sorted({t for n in self.graph.nodes.values() for t in n.tags})
            raise SelectionError(
                f"no node has tag `{part.value}`" + did_you_mean(part.value, tags), hint=hint
            )
        if part.method == "source":
            srcs = sorted(
                {
                    n.source_name or ""
                    for n in self.graph.nodes.values()
                    if n.resource_type == "source"
                }
            )
            raise SelectionError(
                f"no source matches `{part.value}`" + did_you_mean(part.value, srcs), hint=hint
            )
        raise SelectionError(f"no node matches `{part.method}:{part.value}`", hint=hint)

    def _attached_tests(self, chosen: set[str]) -> set[str]:
        out = set()
        for uid, node in self.graph.nodes.items():
            if node.resource_type == "test" and uid not in chosen:
                parents = self.graph.parents[uid]
                if parents and any(p in chosen for p in parents):
                    out.add(uid)
        return out

    # -- matching ------------------------------------------------------------------------
    def _matches(self, node: Node, part: Part) -> bool:
        method, value = part.method, part.value
        if method == "name":
            return _match_name(node, value)
        if method == "tag":
            return any(fnmatch.fnmatchcase(t, value) for t in node.tags)
        if method in ("path", "file"):
            return _match_path(node.path, value, method == "file")
        if method == "source":
            if node.resource_type != "source":
                return False
            full = f"{node.source_name}.{node.name}"
            return fnmatch.fnmatchcase(node.source_name or "", value) or fnmatch.fnmatchcase(
                full, value
            )
        if method == "resource_type":
            return node.resource_type == value
        if method == "fqn":
            return _match_fqn(node.fqn, value)
        if method == "package":
            return node.package == value
        if method == "test_type":
            if node.test is None:
                return False
            kind = "singular" if node.test.name == "singular" else "generic"
            return kind == value or (value == "data" and kind == "singular")
        if method == "test_name":
            return node.test is not None and fnmatch.fnmatchcase(node.test.name, value)
        if method.startswith("config."):
            got = node.config.get(method.split(".", 1)[1])
            if isinstance(got, list):
                return value in [str(g) for g in got]
            return str(got).lower() == value.lower() if got is not None else False
        return False


def _match_name(node: Node, value: str) -> bool:
    if fnmatch.fnmatchcase(node.name, value):
        return True
    if node.resource_type == "source":
        return fnmatch.fnmatchcase(f"{node.source_name}.{node.name}", value)
    return _match_fqn(node.fqn, value)


def _match_fqn(fqn: list[str], value: str) -> bool:
    """True if ``value`` (dotted, globs allowed) is a prefix of the fqn, with or without the
    project name: `staging` selects every node under models/staging."""
    parts = value.split(".")
    for candidate in (fqn, fqn[1:]):
        if len(parts) <= len(candidate) and all(
            fnmatch.fnmatchcase(c, p) for c, p in zip(candidate, parts, strict=False)
        ):
            return True
    return False


def _match_path(path: str, value: str, file_only: bool) -> bool:
    value = value.rstrip("/")
    if file_only:
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], value) or path == value
    return path == value or path.startswith(value + "/") or fnmatch.fnmatchcase(path, value)
