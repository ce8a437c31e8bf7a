"""Aggregate tables (`materialized: aggregate`): a model's SELECT grouped by a time grain and
dimensions into measures, kept up to date by recomputing only the buckets new input touches;
`rollup:`/`cube:` add coarser levels as GROUPING SETS.

Configuration (the model's `config()` or its properties)::

    materialized: aggregate
    dimensions: [region, channel]
    grain: {column: ordered_at, granularity: day}   # hour | day | week | month | quarter | year
    measures:
      - {name: revenue, agg: sum, column: amount}
      - {name: orders, agg: count}                   # count(*); with column: count(column)
      - {name: min_amount, agg: min, column: amount}
      - {name: max_amount, agg: max, column: amount}
      - {name: customers, agg: count_distinct, column: customer_id}               # exact
      - {name: customers_approx, agg: count_distinct, column: customer_id, method: hll}
    rollup: [region, channel]     # or cube: [...]; optional
    lookback: 0                   # buckets before the latest stored one to recompute too

The model's SQL is the *input*; the materialization groups it (`query`). The table's columns:
the grain bucket (named after the grain column: ``date_trunc(granularity, column)``, a date for a
DATE column), the dimensions, ``grouping_level`` (rollup/cube only), then the measures in order,
each HLL measure followed by ``<name>_sketch``. Rows whose grain column is NULL are left out.

**Levels.** ``grouping_level`` is SQL's GROUPING(d1, ..., dn) over the dimensions named by
`rollup:`/`cube:`, in that order: bit ``n-1-i`` is set when the i-th of them is rolled up (its
column is NULL on that row because it was aggregated away, not because the data had a NULL).
Dimensions not named there are kept at every level. With ``rollup: [region, channel]``: 0 = per
region and channel, 1 = per region (all channels), 3 = all regions and channels; ``cube`` adds
2 = per channel (all regions). Every level is per grain bucket: the bucket is never rolled up.

**Incremental maintenance.** The input is taken to be append-only in time (an append-only table,
a source, or a microbatch model): new rows land in the latest bucket the table holds (which may
have been partial when it was built) or later, or at most ``lookback`` buckets before it. A run
after the first therefore:

1. reads the latest stored bucket ``L`` (``max(grain)``) and takes ``S = L - lookback buckets``;
2. deletes the table's rows of buckets ``>= S`` (every level: the bucket is in every level);
3. inserts those buckets recomputed from the input filtered by ``grain >= S`` (the bare column:
   pruned by DuckDB's zone maps or a PostgreSQL index; equivalent to ``bucket >= S`` since ``S``
   is a bucket start),

steps 2 and 3 with the model's checks in one audited transaction
(`headwater.materialize.stateful.audited`: a failing error-level check leaves the previous
table). Whole buckets are recomputed from the input, never patched, so every measure is exactly
what a full recompute gives, exact distinct counts included. A microbatch input that re-runs its
last k intervals needs ``lookback`` covering them (in the aggregate's buckets). Rows that arrive
in older buckets, deletions or updates of old input, and a changed definition (SQL, grain,
measures) need ``headwater run --full-refresh -s MODEL``; a change of the table's columns (a
measure or dimension added or removed) is noticed and rebuilds the table by itself.
``--full-refresh`` (or a missing or empty table) recomputes everything.

**Sketches** (`hll`): a ``method: hll`` distinct count stores a mergeable HyperLogLog sketch per
row (sparse registers in an INTEGER array, precision 14 by default: 0.81% standard error) and
the estimate computed from it. Coarser rollup levels merge the finer sketches register by
register (max), never recount; exact distinct counts, which do not merge, are counted per level
by GROUPING SETS over the input. Built in SQL on DuckDB and PostgreSQL (their 64-bit hashes
differ, so sketches are per engine); elsewhere a ``method: hll`` measure is a `ConfigError`.
Details and error bounds: `headwater.materialize.aggregate.hll`.

Modules: `definition` (the spec), `builder` (config -> spec, with errors), `query` (the SELECT,
built with sqlglot and rendered in the engine's dialect), `hll` (sketch SQL), `evaluator` (the
materialization).
"""

from __future__ import annotations

from headwater.materialize.aggregate.evaluator import AggregateMaterialization

__all__ = ["AggregateMaterialization"]
