"""Source nodes with a `connector:`: extract with the connector, load with the loader.

Every batch commits with its state, so what a run loaded stays loaded even if a later batch
fails; the source's checks then run on the loaded table and are reported (an error-level failure
fails the node and skips its downstream nodes, but cannot un-load committed batches — use
`max_rejected` and `schema_contract` to stop bad data before it is written).
"""

from __future__ import annotations

from headwater.extract.base import connector_class
from headwater.extract.load import Loader
from headwater.materialize.stateful import BuildContext, BuildOutcome, StatefulMaterialization


class ExtractMaterialization(StatefulMaterialization):
    def build(self, ctx: BuildContext) -> BuildOutcome:
        node = ctx.node
        assert node.relation is not None and node.source_name is not None
        kind = str(node.config["connector"])
        connector = connector_class(kind)(node.source_name, node.name, node.config.get("extract") or {})
        loader = Loader(ctx.engine, node.relation, connector, ctx.invocation_id)
        result = loader.run(full_refresh=ctx.full_refresh)
        checks = ctx.audit()
        blocking = [c for c in checks if c.blocks]
        outcome = BuildOutcome(rows=result.rows, published=not blocking, message=result.message(), checks=checks)
        if blocking:
            names = ", ".join(f"`{c.name}`" for c in blocking)
            outcome.message = f"loaded ({result.message()}), but {names} failed"
        return outcome
