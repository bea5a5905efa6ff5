"""The test entry on every system: lint (ruff, mypy) then the whole suite in a random order.

`make test` runs this on Linux; Windows and macOS, which have no `make` by default, run it directly
(`python scripts/test.py`, as the build workflow's suite jobs do), so the code written for those systems
(idle detection, RPC over TCP, start at login, the keyring, paths) is tested where it runs.

    python scripts/test.py [--seed N] [--no-lint] [pytest arguments...]

The order is random each run (pytest-randomly) and printed with its seed, so an order that fails can be
repeated with `--seed N`.

The whole suite runs as two lanes at once, to fit CI's 15 minutes on 2 cores:
- the devnet lane: tests/integration, one test at a time (each starts a devnet of several processes;
  two at once would crowd each other toward their timeouts), its output streamed;
- the other lane: every other test, beside it (one process a core beyond the devnet lane's, up to 4,
  with pytest-xdist, a module's tests kept in one worker), its output printed when both are done.
A devnet test keeps about one core busy on average (its processes mostly wait on each other), so the
lanes share two cores well: about 11 minutes here instead of 14 one after the other.
Given pytest arguments (a path, -k ...), it runs one serial pass with them instead; `--serial` runs the
whole suite that way too (one process).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERIAL_DIR = "tests/integration"  # devnets of several processes each: one at a time
MAX_WORKERS = 4  # the other lane's; beyond that, the daemon and window tests' own processes crowd the cores
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
    return lanes(command, env, seed)


def lanes(command: list[str], env: dict[str, str], seed: int) -> int:
    """The devnet lane streamed here, the other lane beside it into a file; both results at the end."""
    workers = max(1, min(MAX_WORKERS, (os.cpu_count() or 1) - 1))
    spread = ["-n", str(workers), "--dist", "loadscope"] if workers > 1 else []
    with tempfile.TemporaryDirectory(prefix="potminer-suite-") as tmp:
        other_log = Path(tmp) / "other-lane.log"
        other_argv = [*command, *spread, f"--basetemp={tmp}/other", f"--ignore={SERIAL_DIR}"]
        print(
            f"the other lane, beside ({workers} process{'es' if workers > 1 else ''}; output at the end):", flush=True
        )
        print("+", " ".join(other_argv), flush=True)
        with open(other_log, "wb") as log:
            other = subprocess.Popen(other_argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                print(f"the devnet lane ({SERIAL_DIR}), one test at a time:", flush=True)
                devnets = run([*command, f"--basetemp={tmp}/devnets", SERIAL_DIR], env)
                rest = other.wait()
            finally:
                if other.poll() is None:  # Ctrl-C or an error here: do not leave the other lane running
                    other.kill()
                    other.wait()
        print(f"\nthe other lane's output (everything outside {SERIAL_DIR}):", flush=True)
        sys.stdout.write(other_log.read_text(errors="replace"))
        sys.stdout.flush()
    if devnets or rest:
        failed = [name for name, rc in ((f"the devnet lane ({SERIAL_DIR})", devnets), ("the other lane", rest)) if rc]
        print(f"tests failed in {' and '.join(failed)}; repeat the order with --seed {seed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
