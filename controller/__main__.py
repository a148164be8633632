"""Run the CLI with ``python -m controller``."""

from controller.cli import main

raise SystemExit(main())
