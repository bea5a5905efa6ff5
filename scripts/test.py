"""The test entry on every system: lint (ruff, mypy) then the whole suite in a random order.

`make test` runs this on Linux; Windows and macOS, which have no `make` by default, run it directly
(`python scripts/test.py`, as the build workflow's suite jobs do), so the code written for those systems
(idle detection, RPC over TCP, start at login, the keyring, paths) is tested where it runs.

    python scripts/test.py [--seed N] [--no-lint] [pytest arguments...]

The order is random each run (pytest-randomly) and printed with its seed, so an order that fails can be
repeated with `--seed N`.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = (
    ("ruff", "check", "."),
    ("ruff", "format", "--check", "."),
    ("mypy",),
)


def run(argv: list[str], env: dict[str, str] | None = None) -> int:
    print("+", " ".join(argv), flush=True)
    return subprocess.call(argv, cwd=ROOT, env=env)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=None, help="repeat the test order of an earlier run")
    ap.add_argument("--no-lint", action="store_true", help="skip ruff and mypy")
    args, pytest_args = ap.parse_known_args(argv)
    if not args.no_lint:
        for tool in LINT:
            if run([sys.executable, "-m", *tool]) != 0:
                print(f"lint failed ({tool[0]}): fix it first (the suite did not run)", file=sys.stderr)
                return 1
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print(f"test order: random, seed {seed} (repeat it with --seed {seed})", flush=True)
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "randomly"]
    return run([*command, f"--randomly-seed={seed}", *pytest_args], env)


if __name__ == "__main__":
    sys.exit(main())
