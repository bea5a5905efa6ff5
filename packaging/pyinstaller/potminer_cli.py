"""Frozen entry of the console executable `potminer` (daemon, node, CLI): the same as `python -m app`."""

import multiprocessing
import sys

if __name__ == "__main__":
    # Miner workers use the "spawn" start method: a frozen child re-runs this executable, and
    # freeze_support() lets it become the worker instead of parsing the CLI (no-op outside a bundle).
    multiprocessing.freeze_support()
    from app.cli import main

    sys.exit(main())
