"""A multi-host rehearsal on one machine (issue 13): validators, a bootstrap node and volunteer daemons over
emulated wide-area links (40-150 ms one way, 1% loss felt as TCP retransmission stalls), then a validator
crash and a partition, each of which must heal with one block per height everywhere.

    sudo .venv/bin/python scripts/rehearsal.py --netns            # one network namespace per host
    .venv/bin/python scripts/rehearsal.py                         # same topology on 127.0.0.1 (no root)
    .venv/bin/python scripts/rehearsal.py --validators 4 --volunteers 8 --write-results

Exits 0 when every check held, 1 otherwise; Ctrl-C stops and removes everything it made.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.net import netns  # noqa: E402
from app.node.rehearsal import Rehearsal, RehearsalConfig  # noqa: E402
from app.node.rehearsal_run import run  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "rehearsal.txt"
NODE_MODE = "light"  # the volunteers' mode; "full" runs each with a chain database


def _delay(text: str) -> tuple[float, float]:
    low, _, high = text.partition(":")
    return float(low), float(high or low)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--volunteers", type=int, default=8)
    p.add_argument("--netns", action="store_true", help="one network namespace per host (root, iproute2)")
    p.add_argument("--delay-ms", type=_delay, default=(40.0, 150.0), help="LOW:HIGH one-way delay per host")
    p.add_argument("--loss", type=float, default=0.01, help="chance per chunk of a retransmission stall")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1500.0, help="seconds for the whole run")
    p.add_argument("--partition-s", type=float, default=30.0)
    p.add_argument(
        "--round-wait",
        type=float,
        default=20.0,
        help="seconds a round stays open past its first verified receipt: on a few cores verifying 8 receipts "
        "takes longer than the devnet's 5 s, and a round that closes early pays only the first",
    )
    p.add_argument("--node-mode", choices=("light", "full"), default=NODE_MODE)
    p.add_argument("--datadir", type=Path, default=None, help="keep every host's folder here")
    p.add_argument("--write-results", action="store_true", help=f"write the figures to {RESULTS.relative_to(ROOT)}")
    return p.parse_args(argv)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.netns and (why := netns.available()) is not None:
        print(f"rehearsal: --netns unavailable: {why}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    config = RehearsalConfig(
        validators=args.validators,
        volunteers=args.volunteers,
        netns=args.netns,
        delay_ms=args.delay_ms,
        loss=args.loss,
        seed=args.seed,
        timeout_s=args.timeout,
        node_mode=args.node_mode,
        datadir=args.datadir,
        partition_s=args.partition_s,
        round_wait_s=args.round_wait,
    )
    lines: list[str] = []

    def out(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    cores = os.cpu_count() or 1
    out(
        f"rehearsal {time.strftime('%Y-%m-%d')}, {'network namespaces' if args.netns else 'loopback'}, "
        f"{platform.machine()} with {cores} cores, no GPU use; seed {args.seed}, delay {args.delay_ms[0]:.0f}-"
        f"{args.delay_ms[1]:.0f} ms one way, loss {args.loss:.0%}"
    )
    if cores <= 4:
        out(f"note: {cores} cores run every host here, so times are CPU-bound, not network-bound")
    started = time.monotonic()
    try:
        with Rehearsal(config) as rehearsal:
            out(f"network up and task posted in {time.monotonic() - started:.0f} s")
            report = run(rehearsal, out)
    except KeyboardInterrupt:
        print("rehearsal: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    out(
        f"{'all checks held' if report.ok else 'FAILED: ' + '; '.join(report.failures)}, {time.monotonic() - started:.0f} s"
    )
    if args.write_results:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            f"scripts/rehearsal.py {' '.join(argv if argv is not None else sys.argv[1:])}\n" + "\n".join(lines) + "\n"
        )
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
