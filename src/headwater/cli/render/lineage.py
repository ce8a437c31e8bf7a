"""`headwater lineage`: a `LineageResult` as a rich tree (plain text when not a terminal) or
JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater.observe.lineage_tree import LineageNode, LineageResult


def print_lineage(result: LineageResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print_tree(result.tree, result.columns)


def print_tree(tree: LineageNode, columns: bool) -> None:
    """Render a table tree, or a column tree (``columns``), with rich."""
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    def text(item: LineageNode) -> str:
        name = escape(item.name + (f".{item.column}" if columns else ""))
        kind = (
            item.resource_type
            if not item.materialized or item.materialized == item.resource_type
            else f"{item.resource_type}, {item.materialized}"
        )
        parts = [f"[bold]{name}[/]", f"[dim]({escape(kind)})[/]"]
        if columns and item.transformation:
            parts.append(f"[cyan]{item.transformation.lower()}[/]")
        if not columns and item.relation and item.resource_type != "relation":
            parts.append(f"[dim]{escape(item.relation)}[/]")
        if item.location:
            parts.append(f"[dim]→ {escape(item.location)}[/]")
        if item.repeated:
            parts.append("[dim]… (shown above)[/]")
        if item.truncated:
            parts.append("[dim]…[/]")
        return " ".join(parts)

    def add(branch: Any, item: LineageNode) -> None:
        for child in item.children:
            add(branch.add(text(child)), child)

    root = Tree(text(tree))
    add(root, tree)
    Console(soft_wrap=True).print(root)
