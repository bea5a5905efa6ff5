"""PoT round loop vs a bare PyTorch loop: same model, batch, optimiser and device (target >= 0.97).

The bare loop is what anyone would write: random batches, zero_grad, forward, cross-entropy, backward,
step. The PoT loop adds the seeded data order, a checkpoint (parameters + optimiser state, canonical
safetensors, hashed, stored) every k steps, resumable state, progress reporting and the signed
receipt. Runs alternate (bare, PoT, bare, PoT, ...) so both see the same machine load; the figure is
the median of the per-pair ratios. Device: CUDA when present, else MPS, else CPU.

    python bench/bench_training.py [--rounds 5] [--store memory|disk]
    python bench/bench_training.py --size xl --steps 40 --k 20 --batch 16   # a size-ladder tiny-lm
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import crypto  # noqa: E402
from app.core.blobstore import BlobStore  # noqa: E402
from app.miner import demo  # noqa: E402
from app.miner.devices import select_device, synchronize  # noqa: E402
from app.miner.loop import RoundJob, RoundOutput, train_round  # noqa: E402
from app.miner.resume import ResumeDir  # noqa: E402
from app.pot import optim, registry  # noqa: E402
from app.pot.blobs import MemoryBlobStore  # noqa: E402
from app.pot.datasets import load_dataset  # noqa: E402
from app.pot.tensors import decode_tensors  # noqa: E402


class Clock:
    """Wall seconds and this process's CPU seconds (all threads) of one timed block."""

    def __enter__(self) -> "Clock":
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def bare_loop(spec, init, data, device) -> Clock:  # type: ignore[no-untyped-def]
    """H plain training steps on uniformly random batches."""
    model = registry.build_model(spec.model, spec.model_version, spec.hyperparams).to(device)
    model.load_state_dict({k[len(optim.PARAM) :]: v for k, v in init.items()})
    opt = optim.build_optimizer(spec.optimizer, spec.optimizer_params, model)
    x_all, y_all = data.inputs.to(device), data.targets.to(device)
    gen = torch.Generator().manual_seed(0)
    synchronize(device)
    with Clock() as clock:
        for _ in range(spec.local_steps):
            idx = torch.randint(len(data), (spec.batch_size,), generator=gen).to(device)
            x, y = x_all[idx], y_all[idx]
            opt.zero_grad(set_to_none=True)
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long())
            loss.backward()
            opt.step()
        synchronize(device)
    return clock


def pot_loop(spec, store, data, device, folder: Path, round_number: int, keep_every=True) -> Clock:  # type: ignore[no-untyped-def]
    """One miner round (train_round on `store`); `keep_every` as train_round's (default: the miner's)."""
    key = crypto.SigningKey.from_seed(bytes([9]) * 32)
    job = RoundJob("bench", bytes(32), spec, round_number, bytes([1]) * 32, spec.initial_checkpoint)
    synchronize(device)
    with Clock() as clock:
        out = train_round(
            job,
            key,
            store,
            data,
            device=device,
            resume=ResumeDir(folder),
            progress=lambda p: None,
            should_pause=lambda: False,
            keep_every=keep_every,
        )
        synchronize(device)
    assert isinstance(out, RoundOutput)
    return clock


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--store", choices=("memory", "disk"), default="disk")
    ap.add_argument("--model", choices=("mlp", "cnn", "tiny-lm"), default="mlp")
    ap.add_argument("--steps", type=int, default=None, help="H (default: the default task's)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (1 keeps a shared machine's noise down)")
    ap.add_argument(
        "--size",
        choices=tuple(registry.SIZE_LADDER),
        default=None,
        help="a size-ladder tiny-lm (implies --model tiny-lm)",
    )
    ap.add_argument("--k", type=int, default=None, help="steps per checkpoint (default: the default task's)")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the default task's)")
    args = ap.parse_args()
    device = select_device("auto", cpu_threads=args.threads)
    spec = demo.default_task_spec()
    if args.size is not None:
        spec = demo.task_spec(
            "fables",
            "tiny-lm",
            registry.SIZE_LADDER[args.size],
            local_steps=spec.local_steps,
            checkpoint_interval=spec.checkpoint_interval,
        )
    elif args.model != "mlp":
        dataset = "fables" if args.model == "tiny-lm" else "digits"
        spec = demo.task_spec(
            dataset, args.model, local_steps=spec.local_steps, checkpoint_interval=spec.checkpoint_interval
        )
    if args.k:
        spec = spec.replace(checkpoint_interval=args.k)
    if args.batch:
        spec = spec.replace(batch_size=args.batch)
    if args.steps:
        spec = spec.replace(local_steps=args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        store = BlobStore(Path(tmp) / "blobs") if args.store == "disk" else MemoryBlobStore()
        demo.seed_blobs(store, spec)
        data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
        init = decode_tensors(store.get(spec.initial_checkpoint))
        bare_loop(spec, init, data, device)  # warm-up: allocator, kernels, caches
        pot_loop(spec, store, data, device, Path(tmp) / "warm", 999)
        bares, pots = [], []
        for r in range(args.rounds):
            bares.append(bare_loop(spec, init, data, device))
            pots.append(pot_loop(spec, store, data, device, Path(tmp) / f"r{r}", r))
    samples = spec.local_steps * spec.batch_size
    wall = [b.wall / p.wall for b, p in zip(bares, pots)]
    cpu = [b.cpu / p.cpu for b, p in zip(bares, pots)]
    print(
        f"device={device.type} model={spec.model} size={args.size or '-'} H={spec.local_steps} k={spec.checkpoint_interval} batch={spec.batch_size} store={args.store} threads={torch.get_num_threads()}"
    )
    print(f"bare loop : {samples / statistics.median(b.wall for b in bares):10.0f} samples/s (median of {args.rounds})")
    print(f"PoT loop  : {samples / statistics.median(p.wall for p in pots):10.0f} samples/s")
    print(
        f"throughput ratio PoT/bare, wall clock = {statistics.median(wall):.3f} (pairs: {', '.join(f'{x:.3f}' for x in wall)}; target >= 0.97)"
    )
    print(
        f"throughput ratio PoT/bare, CPU time   = {statistics.median(cpu):.3f} (pairs: {', '.join(f'{x:.3f}' for x in cpu)}; robust to other load on a shared machine)"
    )


if __name__ == "__main__":
    main()
