"""What answering a committee's challenges costs a miner that kept only its base and end (sparse keeping).

Each verifier of a committee draws its own q segments per receipt (`app.pot.challenge`, real Ed25519
keys, random receipt ids); the miner must serve each drawn segment's start checkpoint, re-computing it
by replaying from the nearest checkpoint it holds. This counts the segments replayed, as a fraction of
the round, under the recomputer's own policy (`app.miner.recompute`: `replay_plan`, `waypoint_indices`,
served checkpoints stored and used as starting points), for three arrival orders:

- burst: every request reaches the miner within the gather window: one replay to the furthest;
- verifiers: one verifier after another (each asks for its draw in increasing order, as
  `app.pot.verify` reads ahead), each served before the next arrives;
- decreasing: every request one at a time, the furthest first (the worst order).

and a waypoint budget of 0 (before), 2 and 5 checkpoints (768 MiB holds 2 of the 25.4M-parameter
model's 305 MB checkpoints, 5 of the 10.8M one's 129 MB). The replay itself is exact and tested
(tests/miner/test_recompute*.py); here only its length is counted, which is what it costs: seconds =
fraction x the round's training time.

    python bench/bench_recompute.py [--segments 60] [--q 2] [--committees 3,7] [--receipts 400]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import crypto  # noqa: E402
from app.miner.recompute import waypoint_indices  # noqa: E402
from app.pot.challenge import draw_segments  # noqa: E402

CHAIN = "bench"


def replayed(requests: list[list[int]], n: int, room: int) -> int:
    """Segments replayed to serve `requests` (batches, each answered by one replay, in order): the
    recomputer's policy on a miner that holds checkpoints 0 and n, its waypoints dropped least recently
    used first (`Waypoints`)."""
    held = {0, n}  # base and end on disk; then every served checkpoint too
    waypoints: list[int] = []  # least recently used first
    total = 0
    for batch in requests:
        held.update(i for i in batch if i in waypoints)  # a waypoint asked for is stored as it is
        missing = sorted(i for i in set(batch) if i not in held)
        if not missing:
            continue
        start = max(j for j in held | set(waypoints) if j <= missing[0])
        if start in waypoints:  # used: now the most recent
            waypoints.remove(start)
            waypoints.append(start)
        total += missing[-1] - start
        for w in sorted(waypoint_indices(start, missing[-1], room, n)):
            if w in waypoints:
                waypoints.remove(w)
            waypoints.append(w)
            del waypoints[: max(0, len(waypoints) - room)]
        held.update(missing)
    return total


def orders(draws: list[list[int]]) -> dict[str, list[list[int]]]:
    starts = [sorted(d) for d in draws]
    flat = sorted({i for d in starts for i in d}, reverse=True)
    return {
        "burst": [sorted({i for d in starts for i in d})],
        "verifiers": [[i] for d in starts for i in d],
        "decreasing": [[i] for i in flat],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=60, help="H/k of the round")
    ap.add_argument("--q", type=int, default=2)
    ap.add_argument("--committees", default="3,7", help="verifiers per receipt, comma-separated")
    ap.add_argument("--receipts", type=int, default=400, help="random receipts per setting")
    ap.add_argument("--rooms", default="0,2,5", help="waypoint budgets, in checkpoints")
    args = ap.parse_args()
    n = args.segments
    rooms = [int(r) for r in args.rooms.split(",")]
    print(f"segments={n} q={args.q} receipts={args.receipts}; replayed segments / round (mean, max)")
    print(f"{'committee':>9} {'order':>10} " + " ".join(f"{f'room {r}':>15}" for r in rooms))
    for size in (int(c) for c in args.committees.split(",")):
        keys = [crypto.SigningKey.from_seed(bytes([i + 1]) * 32) for i in range(size)]
        runs: dict[str, dict[int, list[float]]] = {}
        for _ in range(args.receipts):
            receipt_id = os.urandom(32)
            draws = [draw_segments(k, CHAIN, receipt_id, n, args.q) for k in keys]
            for name, requests in orders(draws).items():
                for room in rooms:
                    runs.setdefault(name, {}).setdefault(room, []).append(replayed(requests, n, room) / n)
        for name, by_room in runs.items():
            cells = " ".join(f"{statistics.mean(v):>7.2f}, {max(v):>5.2f}" for v in by_room.values())
            print(f"{size:>9} {name:>10} {cells}")


if __name__ == "__main__":
    main()
