"""The command line: a thin layer over `headwater.context.Context`.

`main` runs one command (the `headwater` console script); `build_parser` is its argument parser.
`main.py` parses, maps errors to exit codes and masks secrets in everything printed;
`commands/` holds one module per group of commands (each registers its parsers and handlers);
`render/` turns the results `Context` returns into text, tables, JSON and the HTML quality
report. Nothing outside this package (but `headwater.__main__`) imports it.
"""

from headwater.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
