"""The graph of a project: nodes, edges, topological order and cycle reporting."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from headwater.errors import CycleError, Location
from headwater.project.definition import Node


class Graph:
    """Directed acyclic graph of nodes keyed by unique_id; edges point from parent to child."""

    def __init__(self, nodes: dict[str, Node]) -> None:
        self.nodes = nodes
        self.parents: dict[str, list[str]] = {uid: [] for uid in nodes}
        self.children: dict[str, list[str]] = {uid: [] for uid in nodes}
        for uid, node in nodes.items():
            for dep in node.depends_on:
                if dep == uid:  # `ref()` to itself; `{{ this }}` is how a model reads itself
                    raise CycleError(
                        [node.display_name, node.display_name],
                        location=Location(node.path, node.line),
                        hint=f"`{node.name}` refers to itself: use {{{{ this }}}} to read its current "
                        "table (in an incremental model), or ref() another model",
                    )
                if dep in nodes:
                    self.parents[uid].append(dep)
                    self.children[dep].append(uid)
        self.order = self._toposort()
        self._rank = {uid: i for i, uid in enumerate(self.order)}

    def _toposort(self) -> list[str]:
        indegree = {uid: len(ps) for uid, ps in self.parents.items()}
        ready = deque(sorted(uid for uid, d in indegree.items() if d == 0))
        order: list[str] = []
        while ready:
            uid = ready.popleft()
            order.append(uid)
            for child in self.children[uid]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        if len(order) != len(self.nodes):
            left = {uid for uid, d in indegree.items() if d > 0}
            cycle = self._find_cycle(left)
            first = self.nodes[cycle[0]]
            raise CycleError(
                [self.nodes[u].display_name for u in cycle],
                location=Location(first.path, first.line),
            )
        return order

    def _find_cycle(self, candidates: set[str]) -> list[str]:
        """Return one cycle as a path that starts and ends at the same node."""
        color: dict[str, int] = {}
        for start in sorted(candidates):
            if color.get(start):
                continue
            stack: list[tuple[str, Iterable[str]]] = [(start, iter(self.parents[start]))]
            path = [start]
            color[start] = 1
            while stack:
                uid, it = stack[-1]
                nxt = next((p for p in it if p in candidates), None)
                if nxt is None:
                    color[uid] = 2
                    stack.pop()
                    path.pop()
                    continue
                if color.get(nxt) == 1:
                    cyc = [*path[path.index(nxt) :], nxt]
                    return list(reversed(cyc))
                if not color.get(nxt):
                    color[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter(self.parents[nxt])))
        return sorted(candidates)[:1]

    def sort(self, uids: Iterable[str]) -> list[str]:
        return sorted(uids, key=self._rank.__getitem__)

    def ancestors(self, uid: str, depth: int | None = None) -> set[str]:
        return self._walk(uid, self.parents, depth)

    def descendants(self, uid: str, depth: int | None = None) -> set[str]:
        return self._walk(uid, self.children, depth)

    @staticmethod
    def _walk(uid: str, edges: dict[str, list[str]], depth: int | None) -> set[str]:
        seen: set[str] = set()
        frontier = [uid]
        level = 0
        while frontier and (depth is None or level < depth):
            nxt = []
            for cur in frontier:
                for other in edges[cur]:
                    if other not in seen:
                        seen.add(other)
                        nxt.append(other)
            frontier = nxt
            level += 1
        return seen
