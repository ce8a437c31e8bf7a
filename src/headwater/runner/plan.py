"""Turn a selection into units of work: a node to build with the checks that audit it before it is
published (write-audit-publish), or a group of checks on already published relations."""

from __future__ import annotations

from headwater.graph.definition import Graph
from headwater.project.definition import Node
from headwater.runner.events import Unit

__all__ = ["BUILDABLE", "Unit", "plan_units"]

BUILDABLE = ("source", "seed", "model", "snapshot")


def plan_units(
    graph: Graph,
    selected: set[str],
    *,
    build: bool,
    tests: bool,
    resource_types: tuple[str, ...] = BUILDABLE,
) -> list[Unit]:
    """Units for the selected nodes, in graph order, with dependencies between units.

    A check joins the unit of the node it was declared on when every other input of the check
    is built before that node (its ancestors, or not part of this run): it then audits the staged
    relation before publication. Otherwise it runs after all its inputs as its own unit.
    """
    units: dict[str, Unit] = {}
    owner: dict[str, str] = {}  # node uid -> unit id
    ordered = graph.sort(selected)
    if build:
        for uid in ordered:
            node = graph.nodes[uid]
            if node.resource_type in resource_types and node.is_executable:
                units[uid] = Unit(id=uid, build=node)
                owner[uid] = uid
    if tests:
        extra: dict[str, set[str]] = {}  # build unit -> sibling units its audit checks wait for
        for uid in ordered:
            node = graph.nodes[uid]
            if node.resource_type != "test":
                continue
            _place_test(graph, node, units, owner, selected, extra)
    for unit in units.values():
        members = ([unit.build] if unit.build else []) + unit.tests
        for member in members:
            for parent in _effective_parents(graph, member.unique_id):
                unit_id = owner.get(parent)
                if unit_id and unit_id != unit.id:
                    unit.deps.add(unit_id)
    rank = {uid: i for i, uid in enumerate(graph.order)}
    return sorted(units.values(), key=lambda u: rank.get(_first_member(u), 0))


def _waits_for(graph: Graph, extra: dict[str, set[str]], start: str, target: str) -> bool:
    """Whether the build unit of ``start`` runs after that of ``target`` (graph edges and the
    sibling waits checks added)."""
    stack, seen = [start], set()
    while stack:
        uid = stack.pop()
        if uid == target:
            return True
        if uid in seen:
            continue
        seen.add(uid)
        stack.extend(graph.parents.get(uid, ()))
        stack.extend(extra.get(uid, ()))
    return False


def _first_member(unit: Unit) -> str:
    return unit.build.unique_id if unit.build else unit.tests[0].unique_id


def _effective_parents(graph: Graph, uid: str) -> set[str]:
    """Parents, looking through the nodes that never form a unit of their own: an ephemeral model
    runs inside its children, and a stream's window is a table its stream's run creates. Without
    this a model that `ref()`s a window would not wait for the stream and would fail on a fresh
    warehouse."""
    out: set[str] = set()
    for parent in graph.parents[uid]:
        node = graph.nodes[parent]
        if _looked_through(node):
            out |= _effective_parents(graph, parent)
        else:
            out.add(parent)
    return out


def _looked_through(node: Node) -> bool:
    """Whether a dependency on ``node`` is really one on its parents (see `_effective_parents`)."""
    if node.resource_type == "model" and node.materialized == "ephemeral":
        return True
    return node.resource_type == "stream" and not node.is_executable


def _place_test(
    graph: Graph, test: Node, units: dict[str, Unit], owner: dict[str, str], selected: set[str],
    extra: dict[str, set[str]],
) -> None:  # fmt: skip
    attached = test.test.attached_to if test.test else None
    if attached and attached in units and units[attached].build is not None:
        ancestors = graph.ancestors(attached)
        others = [p for p in graph.parents[test.unique_id] if p != attached]
        descendants = graph.descendants(attached)
        siblings = [p for p in others if p in units and p not in ancestors]
        if all(p not in descendants for p in siblings) and not any(
            _waits_for(graph, extra, p, attached) for p in siblings
        ):
            # a check reading a sibling makes this unit wait for it, unless that sibling already
            # waits for this unit (two models whose checks read each other): then it runs after both
            unit = units[attached]
            unit.tests.append(test)
            owner[test.unique_id] = unit.id
            extra.setdefault(attached, set()).update(siblings)
            return
    key = f"tests:{attached or test.unique_id}"
    if attached and attached not in units:
        key = f"tests:{attached}"
    group = units.get(key)
    if group is None:
        group = units[key] = Unit(id=key)
    group.tests.append(test)
    owner[test.unique_id] = key
