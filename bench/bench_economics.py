"""Reward per unit of compute of each mining strategy, divided by honest mining's in the same run (issue 12).

The simulation is `tests/adversarial/econsim.py`: real blocks of the real state machine (signed task
posts, receipts, round results, fraud proofs; vesting and claw-backs by the state's own rules), with
only the committee's refusals and the auditors' catches drawn, at the rates `bench/bench_attacks.py`
measured (`bench/results/attacks.json`). Each strategy's compute is the FLOPs it really spends, its
reward what vests on chain (net of fees it paid itself). The goal: every cheat <= 0.5x honest.

A second table repeats the cheats with one round every B blocks: the fewer of a miner's receipts
a vesting window holds, the less a claw-back of "all pending rewards" takes, so this is where the
vesting rule is weakest (B = 16: a round longer than a key's whole vesting window).

    python bench/bench_economics.py [--rounds 200] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.adversarial.econsim import STRATEGIES, Report, load_detection, simulate  # noqa: E402

GOAL = 0.5
NOT_A_COMPUTE_CHEAT = "fake device class, inside the bound"


def _table(reports: list[Report]) -> None:
    print(
        f"{'strategy':42s} {'ratio':>7s} {'min..max':>13s} {'GFLOP':>8s} {'vested':>9s} {'incl/rcpt':>10s} {'caught':>6s}"
    )
    for s in STRATEGIES:
        ratios = [r.ratio(s.name) for r in reports]
        o = [r.outcome(s.name) for r in reports]
        if s.name == "honest":
            verdict = ""
        elif s.name == NOT_A_COMPUTE_CHEAT:
            verdict = "  (does the work: not a compute cheat)"
        else:
            verdict = "  ok" if max(ratios) <= GOAL else "  OVER 0.5"
        print(
            f"{s.name:42s} {statistics.mean(ratios):7.3f} {min(ratios):6.3f}..{max(ratios):<6.3f} "
            f"{sum(x.flops for x in o) / 1e9:8.3f} {sum(x.reward for x in o):9d} "
            f"{sum(x.included for x in o):4d}/{sum(x.receipts for x in o):<5d} {sum(x.caught for x in o):6d}{verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sweep", type=int, nargs="*", default=[1, 4, 16], help="blocks per round to sweep")
    args = parser.parse_args()
    if args.rounds < 1 or args.seeds < 1 or any(b < 1 for b in args.sweep):
        parser.error("--rounds, --seeds and each --sweep value must be at least 1")
    rates = load_detection()
    print("detection rates (bench/results/attacks.json): committee, then audit given accepted")
    for attack in dict.fromkeys(s.attack for s in STRATEGIES if s.attack):
        if attack:
            print(f"  {attack:44s} {rates[attack].committee:6.3f} {rates[attack].audit_after_accept:6.3f}")
    for blocks in args.sweep:
        start = time.perf_counter()
        reports = [simulate(rounds=args.rounds, seed=seed, blocks_per_round=blocks) for seed in range(args.seeds)]
        print(
            f"\none round per {blocks} block(s), {args.rounds} rounds x {args.seeds} seeds "
            f"({time.perf_counter() - start:.1f} s): reward per FLOP / honest's"
        )
        _table(reports)
    print(
        "\n'fake device class, inside the bound' is not a cheat of compute: it does every step, so it earns "
        "honest pay per FLOP (1.0x), never more."
    )


if __name__ == "__main__":
    main()
