"""Cost of verifying a receipt vs the cost of producing it, at the default task's q, k, H (target <= 0.05).

Producing: one full round (H steps, H/k checkpoints, the update, the signed receipt). Verifying: every
rule a committee member applies (signature, task, round, base, openings with Merkle proofs, blob hashes,
the update against the final checkpoint) plus the re-execution of q randomly drawn k-step segments.
Both run alternately in one process; the figure is the median of the per-pair ratios, in wall-clock
and in CPU time. Device: CUDA when present, else MPS, else CPU.

    python bench/bench_verify.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import crypto  # noqa: E402
from app.core.blobstore import BlobStore  # noqa: E402
from app.miner import demo  # noqa: E402
from app.miner.datasets import load_dataset  # noqa: E402
from app.miner.devices import select_device, synchronize  # noqa: E402
from app.miner.loop import RoundJob, RoundOutput, train_round  # noqa: E402
from app.miner.proof import segment_count  # noqa: E402
from app.miner.resume import ResumeDir  # noqa: E402
from app.miner.verify import DEFAULT_Q, TaskView, Verifier  # noqa: E402

CHAIN = "bench"
TASK = bytes(32)
ANCHOR = bytes([1]) * 32


def timed(fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (1 keeps a shared machine's noise down)")
    args = ap.parse_args()
    device = select_device("auto", cpu_threads=args.threads)
    spec = demo.default_task_spec()
    key = crypto.SigningKey.from_seed(bytes([5]) * 32)
    with tempfile.TemporaryDirectory() as tmp:
        store = BlobStore(Path(tmp) / "blobs")
        demo.seed_blobs(store, spec)
        data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
        verifier = Verifier(CHAIN, {}, store, lambda _s: data, device)
        rows = []
        for r in range(args.rounds + 1):  # the first pair warms caches and is dropped
            job = RoundJob(CHAIN, TASK, spec, r, ANCHOR, spec.initial_checkpoint)

            def produce() -> RoundOutput:
                out = train_round(job, key, store, data, device=device, resume=ResumeDir(Path(tmp) / f"r{r}"))
                synchronize(device)
                assert isinstance(out, RoundOutput)
                return out

            out, p_wall, p_cpu = timed(produce)
            verifier.tasks = {TASK: TaskView(spec, r, spec.initial_checkpoint, ANCHOR)}
            verdict, v_wall, v_cpu = timed(lambda: verifier.verify(out.receipt, out.trace))
            if not verdict.accepted:
                raise SystemExit(f"honest receipt rejected: {verdict}")
            if r:
                rows.append((p_wall, v_wall, p_cpu, v_cpu))
    wall = [v / p for p, v, _, _ in rows]
    cpu = [v / p for _, _, p, v in rows]
    n = segment_count(spec)
    print(f"device={device.type} model={spec.model} H={spec.local_steps} k={spec.checkpoint_interval} q={DEFAULT_Q} (re-executes {DEFAULT_Q}/{n} segments, {DEFAULT_Q * spec.checkpoint_interval / spec.local_steps:.3f} of the steps)")
    print(f"produce: {statistics.median(r[0] for r in rows) * 1e3:8.1f} ms   verify: {statistics.median(r[1] for r in rows) * 1e3:8.1f} ms (median of {len(rows)})")
    print(f"verify/produce, wall clock = {statistics.median(wall):.4f} (pairs: {', '.join(f'{x:.4f}' for x in wall)}; target <= 0.05)")
    print(f"verify/produce, CPU time   = {statistics.median(cpu):.4f} (pairs: {', '.join(f'{x:.4f}' for x in cpu)})")


if __name__ == "__main__":
    main()
