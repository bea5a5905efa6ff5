"""Soak the node (issue 17): a loopback devnet under a hostile peer for a few minutes, measured.

    .venv/bin/python scripts/soak.py --seconds 240

Prints blocks finalised, the RSS of every node at start and end (with its peak), the attacks sent,
and each hostile identity's fate. Exit status 1 when the chain stalled or a hostile identity ended
unbanned by some validator.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.soak import run_soak  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=240.0)
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--miners", type=int, default=1)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="pot-soak-") as root:
        report = run_soak(Path(root), args.seconds, args.validators, args.miners)
    print("\n".join(report.lines()))
    unbanned = [i for i in report.identities if len(report.banned_by.get(i, [])) < args.validators]
    return 1 if report.finalised <= 0 or unbanned else 0


if __name__ == "__main__":
    sys.exit(main())
