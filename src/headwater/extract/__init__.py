"""Extract and load: how a source's rows get out of files, object storage, databases and APIs,
and the one loader that writes them into the warehouse.

- `base`: the Connector seam (`Connector`, `Batch`, `ExtractState`, the registry), `keys`: the
  keys each connector declares, `cursors`: `lag` and cursor values of incremental extraction;
- connectors: `files` (`files`, `s3`), `databases` (`postgres`, `mysql`/`mariadb`), `http`,
  `dlt_source` (`dlt`);
- the loader: `load` (`Loader`), `load_schema` (schema contracts, rows to reject),
  `load_batches`, `load_state` (cursors and loaded files in the warehouse), `guard` (a replace
  that would empty or shrink a table), `clip` (messages cut to a readable length);
- `materialization`: connector sources as nodes of a build.
"""
