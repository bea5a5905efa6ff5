"""Cost of verifying a receipt vs the cost of producing it, at the default task's q, k, H (target <= 0.05).

Producing: one full round (H steps, H/k checkpoints, the update, the signed receipt). Verifying: every
rule a committee member applies (signature, task, round, base, openings with Merkle proofs, blob hashes,
the update against the final checkpoint) plus the re-execution of q randomly drawn k-step segments.
Both run alternately in one process; the figure is the median of the per-pair ratios, in wall-clock
and in CPU time. Device: CUDA when present, else MPS, else CPU.

    python bench/bench_verify.py [--rounds 5]
    python bench/bench_verify.py --noise     # worst per-tensor re-execution noise (per kind: scripts/measure_tolerances.py)
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
from app.miner.devices import select_device, synchronize  # noqa: E402
from app.miner.loop import RoundJob, RoundOutput, train_round  # noqa: E402
from app.miner.resume import ResumeDir  # noqa: E402
from app.pot.datasets import load_dataset  # noqa: E402
from app.pot.proof import segment_count  # noqa: E402
from app.pot.verify import DEFAULT_Q, TaskView, Verifier  # noqa: E402

CHAIN = "bench"
TASK = bytes(32)
ANCHOR = bytes([1]) * 32


def timed(fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def noise(device: torch.device) -> None:
    """Relative distance of honest re-execution under other thread counts, vs dishonest work.

    Each registry model trains one round with 1 thread; every segment is then re-executed with 1, 2
    and 4 threads (different kernel blocking, so different float rounding) and its distance to the
    committed checkpoint recorded. For contrast: the same segments replayed with another miner's data
    order, with poisoned labels, and with half the steps.
    """
    from app.pot.datasets import Split
    from app.pot.engine import Session, run_steps
    from app.pot.tensors import decode_tensors
    from app.pot.tolerance import distances

    def relative_distance(got, end, start) -> float:  # type: ignore[no-untyped-def]
        """The largest per-tensor distance (per kind: scripts/measure_tolerances.py)."""
        return max(distances(got, end, start).values())

    cases = [("digits", "mlp"), ("digits", "cnn"), ("fables", "tiny-lm")]
    print(
        f"device={device.type}; relative distance = |reexec - committed| / |committed - start| (params), max with opt. state"
    )
    for dataset, model in cases:
        spec = demo.task_spec(dataset, model, local_steps=200, checkpoint_interval=20, batch_size=32)
        with tempfile.TemporaryDirectory() as tmp:
            store = BlobStore(Path(tmp) / "blobs")
            demo.seed_blobs(store, spec)
            data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
            torch.set_num_threads(1)
            key = crypto.SigningKey.from_seed(bytes([5]) * 32)
            job = RoundJob(CHAIN, TASK, spec, 0, ANCHOR, spec.initial_checkpoint)
            out = train_round(job, key, store, data, device=device, resume=ResumeDir(Path(tmp) / "r"))
            assert isinstance(out, RoundOutput)
            from app.pot.datasets import round_seed

            seed = round_seed(ANCHOR, key.public_key, TASK, 0)
            other = round_seed(ANCHOR, bytes([6]) * 32, TASK, 0)
            poisoned = Split(data.inputs, data.targets + 1 if model == "tiny-lm" else (data.targets + 1) % 10)
            k = spec.checkpoint_interval
            worst: dict[str, float] = {}
            for j in range(len(out.trace.checkpoints) - 1):
                start = decode_tensors(store.get(out.trace.checkpoints[j]))
                end = decode_tensors(store.get(out.trace.checkpoints[j + 1]))
                variants = [(f"honest, {t} thread(s)", t, seed, data, k, 0.0) for t in (1, 2, 4)]
                variants += [("honest, start off by 1e-6", 1, seed, data, k, 1e-6)]
                variants += [
                    ("other miner's order", 1, other, data, k, 0.0),
                    ("poisoned labels", 1, seed, poisoned, k, 0.0),
                    ("half the steps", 1, seed, data, k // 2, 0.0),
                ]
                for name, threads, s_, d_, steps, jitter in variants:
                    torch.set_num_threads(threads)
                    session = Session(spec, device)
                    # A relative 1e-6 perturbation of the start stands in for another device's rounding
                    # (GPU kernels differ from CPU ones around float32's 6e-8 epsilon, op after op).
                    g = torch.Generator().manual_seed(j)
                    session.load(
                        {
                            n: t * (1 + jitter * torch.randn(t.shape, generator=g)) if jitter else t
                            for n, t in start.items()
                        }
                    )
                    run_steps(session, d_, s_, j * k, j * k + steps, torch.zeros((), device=device))
                    dist = relative_distance(session.export(), end, start)
                    worst[name] = (
                        max(worst.get(name, 0.0), dist)
                        if "honest" in name
                        else min(worst.get(name, float("inf")), dist)
                    )
            torch.set_num_threads(1)
            print(
                f"{model:8s} "
                + "  ".join(f"{n}: {'max' if 'honest' in n else 'min'} {v:.2e}" for n, v in worst.items())
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (1 keeps a shared machine's noise down)")
    ap.add_argument("--noise", action="store_true", help="measure re-execution noise instead")
    args = ap.parse_args()
    if args.noise:
        noise(select_device("auto"))
        return
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
    print(
        f"device={device.type} model={spec.model} H={spec.local_steps} k={spec.checkpoint_interval} q={DEFAULT_Q} (re-executes {DEFAULT_Q}/{n} segments, {DEFAULT_Q * spec.checkpoint_interval / spec.local_steps:.3f} of the steps)"
    )
    print(
        f"produce: {statistics.median(r[0] for r in rows) * 1e3:8.1f} ms   verify: {statistics.median(r[1] for r in rows) * 1e3:8.1f} ms (median of {len(rows)})"
    )
    print(
        f"verify/produce, wall clock = {statistics.median(wall):.4f} (pairs: {', '.join(f'{x:.4f}' for x in wall)}; target <= 0.05)"
    )
    print(f"verify/produce, CPU time   = {statistics.median(cpu):.4f} (pairs: {', '.join(f'{x:.4f}' for x in cpu)})")


if __name__ == "__main__":
    main()
