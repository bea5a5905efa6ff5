"""The practice network's task, round after round: does its held-out loss fall (or hold within noise)?

Honest miners (each its own key, so its own data order) train every round from the global
checkpoint through the real loop (`train_round`); the committee's `aggregate_round` (the usefulness
rule applied) makes the next global checkpoint, exactly as on a devnet. Printed per round: the
validation loss the chain records, its change against the previous round in the paired test's
standard errors, the rule's allowance, whether the rule kept the base, and the patience rule's
progress (best loss, rounds without an improvement of the margin; the round the chain would finish
the task). Issue 14 asks for the curve over 200 rounds; `--dataset digits` shows the old task on
1,500 samples overfitting for comparison (run in the same session).

    python bench/bench_default_task.py                          # 200 rounds, 2 miners, the devnet schedule
    python bench/bench_default_task.py --rounds 40 --dataset digits --lr 0.003 --weight-decay 0
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import crypto  # noqa: E402
from app.core.patience import next_progress  # noqa: E402
from app.miner import demo  # noqa: E402
from app.miner.loop import RoundJob, RoundOutput, train_round  # noqa: E402
from app.miner.resume import ResumeDir  # noqa: E402
from app.node.devnet import DevnetConfig  # noqa: E402
from app.pot.aggregate import aggregate_round  # noqa: E402
from app.pot.blobs import MemoryBlobStore  # noqa: E402
from app.pot.datasets import load_dataset, load_split  # noqa: E402
from app.pot.tensors import decode_tensors  # noqa: E402
from app.pot.usefulness import paired_score, sample_losses  # noqa: E402

TASK = bytes(32)


def main() -> None:
    devnet = DevnetConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--miners", type=int, default=2)
    ap.add_argument("--steps", type=int, default=256, help="H (default: make run's)")
    ap.add_argument("--interval", type=int, default=devnet.checkpoint_interval)
    ap.add_argument("--batch", type=int, default=devnet.batch_size)
    ap.add_argument("--dataset", default=demo.PRACTICE_DATASET)
    ap.add_argument("--lr", default=demo.PRACTICE_ADAMW["lr"])
    ap.add_argument("--weight-decay", default=demo.PRACTICE_ADAMW["weight_decay"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = demo.practice_task_spec(
        local_steps=args.steps, checkpoint_interval=args.interval, batch_size=args.batch, rounds=args.rounds
    )
    spec = demo.task_spec(
        args.dataset,
        local_steps=spec.local_steps,
        checkpoint_interval=spec.checkpoint_interval,
        batch_size=spec.batch_size,
        rounds=spec.rounds,
        optimizer_params={**demo.PRACTICE_ADAMW, "lr": args.lr, "weight_decay": args.weight_decay},
        patience_rounds=spec.patience_rounds,
        min_improvement_micro=spec.min_improvement_micro,
    )
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    validation = load_split(store, [spec.validation_shard])
    keys = [crypto.SigningKey.from_seed(bytes([i + 1]) * 32) for i in range(args.miners)]
    work = Path(tempfile.mkdtemp(prefix="bench-default-task-"))
    checkpoint = spec.initial_checkpoint
    base_losses = sample_losses(spec, decode_tensors(store.get(checkpoint)), validation)
    print(
        f"{args.dataset}: {len(data)} training samples, {len(validation)} held out; initial loss {float(base_losses.mean()):.4f}"
    )
    best, stale, finished_at, worse, t0 = None, 0, None, 0, time.perf_counter()
    losses = []
    for r in range(args.rounds):
        anchor = hashlib.sha256(b"anchor%d" % r).digest()  # each round a new block anchors the data order
        outs = []
        for i, key in enumerate(keys):
            job = RoundJob("bench", TASK, spec, r, anchor, checkpoint)
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
        new_losses = sample_losses(spec, decode_tensors(agg.checkpoint), validation)
        change = paired_score(base_losses, new_losses)
        worse += not change.useful
        progress = next_progress(spec, best, stale, agg.result.validation_loss_micro)
        best, stale = progress.best_loss_micro, progress.stale_rounds
        if progress.exhausted and finished_at is None:
            finished_at = r
        losses.append(agg.validation_loss)
        print(
            f"round {r:3d}: loss {agg.validation_loss:.4f}  change {change.delta:+.4f} ({change.z:+6.1f} se, allowance {change.allowance:.4f})"
            f"  left out {len(agg.left_out)}{'  base kept' if agg.kept_base else ''}"
            f"  best {best / 1e6:.4f} stale {stale}{'  <- patience would finish the task' if r == finished_at else ''}",
            flush=True,
        )
        checkpoint, base_losses = agg.checkpoint_hash, new_losses
    print(
        f"{args.rounds} rounds in {time.perf_counter() - t0:.0f} s: loss {losses[0]:.4f} after round 0, min {min(losses):.4f}"
        f" (round {losses.index(min(losses))}), last {losses[-1]:.4f}; rounds worse than the noise allowance: {worse};"
        f" patience ({spec.patience_rounds} rounds, margin {spec.min_improvement_micro / 1e6} nats) would finish at round"
        f" {finished_at if finished_at is not None else 'never'}"
    )


if __name__ == "__main__":
    main()
