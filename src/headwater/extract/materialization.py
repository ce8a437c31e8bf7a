"""Source nodes with a `connector:`: extract with the connector, load with the loader.

Every batch commits with its state, so what a run loaded stays loaded even if a later batch
fails (except for a source whose batches only make sense together, e.g. an API's pages without a
cursor: all or nothing). Records set aside in `<table>__rejected` make the node warn. The
source's checks then run on the loaded table and are reported (an error-level failure fails the
node and skips its downstream nodes, but cannot un-load committed batches — use `max_rejected`
and `schema_contract` to stop bad data before it is written).
"""

from __future__ import annotations

from headwater.extract.base import connector_class
from headwater.extract.load import Loader, LoadResult
from headwater.materialize.stateful import BuildContext, BuildOutcome, StatefulMaterialization
from headwater.project.definition import Relation


class ExtractMaterialization(StatefulMaterialization):
    def build(self, ctx: BuildContext) -> BuildOutcome:
        node = ctx.node
        assert node.relation is not None and node.source_name is not None
        kind = str(node.config["connector"])
        connector = connector_class(kind)(
            node.source_name, node.name, node.config.get("extract") or {}
        )
        loader = Loader(ctx.engine, node.relation, connector, ctx.invocation_id)
        before = _table_rows(ctx, node.relation)
        result = loader.run(full_refresh=ctx.full_refresh)
        checks = ctx.audit()
        blocking = [c for c in checks if c.blocks]
        outcome = BuildOutcome(
            rows=result.rows, published=not blocking, message=_message(result), checks=checks
        )
        outcome.rejected = result.rejected
        outcome.stats = _stats(ctx, loader.disposition, node.relation, before, result.rows)
        if blocking:
            names = ", ".join(f"`{c.name}`" for c in blocking)
            outcome.message = f"loaded ({result.message()}), but {names} failed"
        return outcome


def _message(result: LoadResult) -> str:
    """The node's message: what was loaded and, when records were rejected (the node warns),
    how many, where they are and the first one's reason."""
    if not result.rejected:
        return result.message()
    text = f"{result.rows:,} rows loaded, {result.rejected:,} rejected → {result.rejected_relation}"
    return text + (f" (first: {result.first_rejected})" if result.first_rejected else "")


def _table_rows(ctx: BuildContext, relation: Relation) -> int:
    """Rows of the landing table now (0 when it does not exist yet): a count is metadata-cheap."""
    if ctx.engine.relation_kind(relation) != "table":
        return 0
    return int(ctx.engine.execute(f"SELECT count(*) FROM {relation.render()}")[0][0])


def _stats(
    ctx: BuildContext, disposition: str, relation: Relation, before: int, rows: int
) -> dict[str, int]:
    """Rows inserted / updated / deleted by the load: append inserts every row; replace swaps in
    a new table (the old rows count as deleted); merge replaces the rows of keys it already had
    (updated) and adds the others (inserted), told apart by the table's count before and after.
    `--full-refresh` drops the old rows first (deleted)."""
    if disposition == "replace":
        return {"inserted": rows, "updated": 0, "deleted": before}
    dropped = before if ctx.full_refresh else 0
    if disposition == "merge":
        new = _table_rows(ctx, relation) - (before - dropped)
        return {"inserted": new, "updated": max(rows - new, 0), "deleted": dropped}
    return {"inserted": rows, "updated": 0, "deleted": dropped}
