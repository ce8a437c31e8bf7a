"""The commands, one module per group; each has ``add_commands(subparsers, common)`` returning
``{command: handler}`` (the order of `--help` is `headwater.cli.main.COMMAND_MODULES`).

- `project`   init, deps, demo
- `run`       build, run, test, seed, snapshot, extract
- `backfill`  backfill, intervals
- `inspect`   ls, compile, query
- `validate`  validate
- `observe`   status, metrics, freshness
- `lineage`   lineage
"""
