"""Honest noise of the usefulness rule: how honest updates score on the held-out loss, round by round.

Honest miners (each its own key, so its own data order) train every round from the global
checkpoint; each update is scored against the base by the paired rule of `app.pot.usefulness`
(z = delta / se, and whether the rule keeps it), then the round's aggregate (`aggregate_round`, the
rule applied) becomes the next base. Printed per round: the base's held-out loss, the aggregate's z,
the honest updates' z, and how many the rule left out. docs/PROTOCOL.md (Part 4, section 9) quotes two
runs: the default task, and a fast-overfitting one.

    python bench/bench_usefulness.py                                   # default task, 4 miners, 4 rounds
    python bench/bench_usefulness.py --rounds 15 --miners 6            # the figure in docs/PROTOCOL.md
    python bench/bench_usefulness.py --steps 12 --interval 4 --batch 32 --lr 0.003 --weight-decay 0 --rounds 30 --miners 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import crypto  # noqa: E402
from app.miner import demo  # noqa: E402
from app.miner.loop import RoundJob, RoundOutput, train_round  # noqa: E402
from app.miner.resume import ResumeDir  # noqa: E402
from app.pot.aggregate import aggregate_round  # noqa: E402
from app.pot.blobs import MemoryBlobStore  # noqa: E402
from app.pot.datasets import load_dataset, load_split  # noqa: E402
from app.pot.tensors import decode_tensors  # noqa: E402
from app.pot.usefulness import paired_score, sample_losses  # noqa: E402

TASK = bytes(32)
ANCHOR = bytes([7]) * 32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--miners", type=int, default=4)
    ap.add_argument("--steps", type=int, default=1200, help="H (default: the default task's)")
    ap.add_argument("--interval", type=int, default=100, help="k (checkpoints do not change the update)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", default=demo.DEVNET_ADAMW["lr"])
    ap.add_argument("--weight-decay", default=demo.DEVNET_ADAMW["weight_decay"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    params = {**demo.ADAMW, "lr": args.lr, "weight_decay": args.weight_decay}
    spec = demo.task_spec(
        local_steps=args.steps, checkpoint_interval=args.interval, batch_size=args.batch, optimizer_params=params
    )
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    validation = load_split(store, [spec.validation_shard])
    keys = [crypto.SigningKey.from_seed(bytes([i + 1]) * 32) for i in range(args.miners)]
    work = Path(tempfile.mkdtemp(prefix="bench-usefulness-"))
    checkpoint = spec.initial_checkpoint
    zs: list[float] = []
    left = 0
    for r in range(args.rounds):
        t = time.perf_counter()
        outs = []
        for i, key in enumerate(keys):
            job = RoundJob("bench", TASK, spec, r, ANCHOR, checkpoint)
            out = train_round(job, key, store, data, device=torch.device("cpu"), resume=ResumeDir(work / f"{r}-{i}"))
            assert isinstance(out, RoundOutput)
            outs.append(out)
        agg = aggregate_round(
            task_id=TASK,
            round_number=r,
            spec=spec,
            base_checkpoint=checkpoint,
            verified=[o.receipt for o in outs],
            store=store,
            validation=validation,
        )
        base_losses = sample_losses(spec, decode_tensors(store.get(checkpoint)), validation)
        whole = paired_score(base_losses, sample_losses(spec, decode_tensors(agg.checkpoint), validation))
        scores = [s for _, s in agg.scores]
        zs += [s.z for s in scores]
        left += len(agg.left_out)
        print(
            f"round {r:3d}: base loss {float(base_losses.mean()):.4f}  aggregate z {whole.z:+6.1f}  "
            f"honest z {' '.join(f'{s.z:+5.1f}' for s in scores)}  left out {len(agg.left_out)}"
            f"{'  (base kept)' if agg.kept_base else ''}  {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        checkpoint = agg.checkpoint_hash
    print(
        f"{len(zs)} honest updates: z from {min(zs):+.1f} to {max(zs):+.1f}, {sum(z > 3 for z in zs)} above 3, "
        f"{left} left out by the rule"
    )


if __name__ == "__main__":
    main()
