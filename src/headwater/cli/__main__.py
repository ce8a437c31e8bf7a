"""`python -m headwater.cli`: the same as the `headwater` command."""

from headwater.cli.main import main

raise SystemExit(main())
