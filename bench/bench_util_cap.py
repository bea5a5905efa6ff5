"""The utilisation cap ([mining] utilization_cap), measured: the real round loop on the CPU with the
miner's DutyCycle at each requested share, its load read as this process's CPU time over wall time,
relative to an uncapped run measured in the same session (so other load on the machine cancels out).

Prints, for each cap, measured load / requested load (target: within a few points of 1.00). Runs
alternate (uncapped, capped) so both see the same machine.

    python bench/bench_util_cap.py [--caps 25,50,75] [--steps 96] [--repeats 3]
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
from app.miner import demo  # noqa: E402
from app.miner.devices import DutyCycle, select_device  # noqa: E402
from app.miner.loop import RoundJob, RoundOutput, train_round  # noqa: E402
from app.miner.resume import ResumeDir  # noqa: E402
from app.pot.blobs import MemoryBlobStore  # noqa: E402
from app.pot.datasets import load_dataset  # noqa: E402


def load(spec, store, data, device, folder: Path, fraction: float, n: int) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds per wall second of one round trained under duty cycle `fraction`."""
    key = crypto.SigningKey.from_seed(bytes([9]) * 32)
    job = RoundJob("bench", bytes(32), spec, n, bytes([1]) * 32, spec.initial_checkpoint)
    after = DutyCycle(fraction, device) if fraction < 1 else None
    wall0, cpu0 = time.perf_counter(), time.process_time()
    out = train_round(
        job,
        key,
        store,
        data,
        device=device,
        resume=ResumeDir(folder),
        progress=lambda p: None,
        should_pause=lambda: False,
        after_step=after,
    )
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert isinstance(out, RoundOutput)
    return cpu / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--caps", default="25,50,75")
    ap.add_argument("--steps", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    device = select_device("cpu", cpu_threads=1)
    spec = demo.default_task_spec().replace(local_steps=args.steps, checkpoint_interval=max(1, args.steps // 4))
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    print(
        f"device=cpu threads={torch.get_num_threads()} model={spec.model} H={spec.local_steps} batch={spec.batch_size}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        n = 0
        load(spec, store, data, device, Path(tmp) / "warm", 1.0, n)  # warm-up
        for cap in (int(c) for c in args.caps.split(",")):
            ratios = []
            for _ in range(args.repeats):
                n += 1
                full = load(spec, store, data, device, Path(tmp) / f"f{n}", 1.0, n)
                capped = load(spec, store, data, device, Path(tmp) / f"c{n}", cap / 100, n)
                ratios.append(capped / full / (cap / 100))
            measured = statistics.median(ratios) * cap
            print(
                f"cap {cap:3d} %: measured {measured:5.1f} % of the uncapped load; "
                f"measured/requested = {statistics.median(ratios):.3f} (runs: {', '.join(f'{r:.3f}' for r in ratios)})"
            )


if __name__ == "__main__":
    main()
