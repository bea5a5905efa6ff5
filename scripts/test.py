"""The test entry on every system: lint (ruff, mypy) then the whole suite in a random order.

`make test` runs this on Linux; Windows and macOS, which have no `make` by default, run it directly
(`python scripts/test.py`, as the build workflow's suite jobs do), so the code written for those systems
(idle detection, RPC over TCP, start at login, the keyring, paths) is tested where it runs.

    python scripts/test.py [--seed N] [--no-lint] [pytest arguments...]

The order is random each run (pytest-randomly) and printed with its seed, so an order that fails can be
repeated with `--seed N`.

The whole suite runs in two passes, to fit CI's 15 minutes on 2 cores:
1. every test outside tests/integration, spread over one worker process a core (pytest-xdist, up to 4),
   a module's tests kept together in one worker (its module fixtures are built once);
2. tests/integration alone, one test at a time: each starts a devnet of several processes that need the
   machine's cores, and two at once would only slow each other down toward their timeouts.
Given pytest arguments (a path, -k ...), it runs one serial pass with them instead; `--serial` runs the
whole suite that way too (one process, as before the split).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERIAL_DIR = "tests/integration"  # devnets of several processes each: one at a time
MAX_WORKERS = 4  # beyond that, the daemon and window tests' own processes crowd the cores
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
    ap.add_argument("--serial", action="store_true", help="the whole suite in one process, one test at a time")
    args, pytest_args = ap.parse_known_args(argv)
    if not args.no_lint:
        for tool in LINT:
            if run([sys.executable, "-m", *tool]) != 0:
                print(f"lint failed ({tool[0]}): fix it first (the suite did not run)", file=sys.stderr)
                return 1
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print(f"test order: random, seed {seed} (repeat it with --seed {seed})", flush=True)
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "randomly",
        f"--randomly-seed={seed}",
    ]
    if pytest_args or args.serial:
        return run([*command, *pytest_args], env)
    workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1))
    print(f"pass 1 of 2: the suite but {SERIAL_DIR}, in {workers} worker processes", flush=True)
    spread = run([*command, "-n", str(workers), "--dist", "loadscope", f"--ignore={SERIAL_DIR}"], env)
    print(f"pass 2 of 2: {SERIAL_DIR}, one test at a time", flush=True)
    serial = run([*command, SERIAL_DIR], env)
    if spread or serial:
        failed = [name for name, rc in (("pass 1", spread), (f"pass 2 ({SERIAL_DIR})", serial)) if rc]
        print(f"tests failed in {' and '.join(failed)}; repeat the order with --seed {seed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
