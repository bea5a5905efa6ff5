"""Measure honest replay noise per tensor kind, and the distance of cheating, behind app.pot.tolerance.

For each registry model (digits MLP, digits CNN, the fables transformer) a miner trains one round
(H=200 steps, k=20, batch 32, AdamW) with 1 and with 2 CPU threads (or on `--device cuda`), keeping every
checkpoint. Each segment is then replayed on the CPU from the committed start:

- with the miner's own thread count: must be bit-identical (the exact rule; "exact" column);
- with other thread counts (1, 2, 4): honest noise between two CPU configurations;
- from a start perturbed by a relative 1e-6 (a stand-in for another device's rounding);
- dishonestly: another miner's data order, poisoned labels, half the steps.

Printed per model and per tensor kind (param, exp_avg, exp_avg_sq): the worst honest per-tensor
distance, its 50th/99th percentiles over (segment, tensor), and the smallest dishonest one (over
segments, of the largest per-tensor distance of that kind). docs/TOLERANCES.md records a run.

    python scripts/measure_tolerances.py [--steps 200] [--device cuda] [--models mlp,cnn,tiny-lm]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.miner import demo  # noqa: E402
from app.pot.blobs import MemoryBlobStore  # noqa: E402
from app.pot.datasets import Split, load_dataset, round_seed  # noqa: E402
from app.pot.engine import Session, run_steps  # noqa: E402
from app.pot.tensors import decode_tensors  # noqa: E402
from app.pot.tolerance import INTEGER_SLOTS, distances, kind_of  # noqa: E402

ANCHOR = bytes([1]) * 32
TASK = bytes(32)
CASES = {"mlp": "digits", "cnn": "digits", "tiny-lm": "fables"}
SHOWN = ("param", "exp_avg", "exp_avg_sq")


def train(spec, data: Split, seed: bytes, device: torch.device, threads: int) -> list[dict[str, torch.Tensor]]:  # type: ignore[no-untyped-def]
    """Every checkpoint of one honest round, base first."""
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    torch.set_num_threads(threads)
    session = Session(spec, device)
    session.load(decode_tensors(store.get(spec.initial_checkpoint)))
    k = spec.checkpoint_interval
    out = [session.export()]
    for j in range(spec.local_steps // k):
        run_steps(session, data.to(device), seed, j * k, (j + 1) * k, torch.zeros((), device=device))
        out.append(session.export())
    return out


def replay(
    spec,
    data: Split,
    seed: bytes,
    start: dict[str, torch.Tensor],
    j: int,
    steps: int,
    threads: int,
    jitter: float = 0.0,
) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    torch.set_num_threads(threads)
    session = Session(spec, torch.device("cpu"))
    if jitter:
        g = torch.Generator().manual_seed(j)
        start = {
            n: t if kind_of(n) in INTEGER_SLOTS else t * (1 + jitter * torch.randn(t.shape, generator=g))
            for n, t in start.items()
        }
    session.load(start)
    k = spec.checkpoint_interval
    run_steps(session, data, seed, j * k, j * k + steps, torch.zeros(()))
    return session.export()


def per_kind(d: dict[str, float]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for name, v in d.items():
        out.setdefault(kind_of(name), []).append(v)
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else 0.0


def measure(model: str, steps: int, device: torch.device, miner_threads: tuple[int, ...]) -> None:
    dataset = CASES[model]
    spec = demo.task_spec(dataset, model, local_steps=steps, checkpoint_interval=20, batch_size=32)
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    seed = round_seed(ANCHOR, bytes([5]) * 32, TASK, 0)
    other = round_seed(ANCHOR, bytes([6]) * 32, TASK, 0)
    poisoned = Split(data.inputs, data.targets + 1 if model == "tiny-lm" else (data.targets + 1) % 10)
    k = spec.checkpoint_interval
    honest: dict[str, dict[str, list[float]]] = {}  # variant -> kind -> all per-tensor distances
    cheat: dict[str, dict[str, list[float]]] = {}  # variant -> kind -> per-segment max
    exact_segments = exact_total = 0
    for mt in miner_threads:
        trace = train(spec, data, seed, device, mt)
        for j in range(len(trace) - 1):
            start, end = trace[j], trace[j + 1]
            variants: list[tuple[str, int, bytes, Split, int, float, bool]] = []
            for rt in (1, 2, 4):
                same = rt == mt and device.type == "cpu"
                variants.append(
                    (
                        "same config" if same else f"{'cpu' if device.type == 'cpu' else device.type}->cpu threads",
                        rt,
                        seed,
                        data,
                        k,
                        0.0,
                        True,
                    )
                )
            variants += [("start +1e-6", mt, seed, data, k, 1e-6, True)]
            if mt == miner_threads[0]:
                variants += [
                    ("other order", mt, other, data, k, 0.0, False),
                    ("poisoned", mt, seed, poisoned, k, 0.0, False),
                    ("half steps", mt, seed, data, k // 2, 0.0, False),
                ]
            for name, rt, s_, d_, n_steps, jitter, is_honest in variants:
                got = replay(spec, d_, s_, start, j, n_steps, rt, jitter)
                kinds = per_kind(distances(got, end, start))
                if name == "same config":
                    exact_total += 1
                    exact_segments += all(v == 0.0 for vs in kinds.values() for v in vs)
                target = honest if is_honest else cheat
                for kind, vs in kinds.items():
                    if is_honest:
                        target.setdefault(name, {}).setdefault(kind, []).extend(vs)
                    else:
                        target.setdefault(name, {}).setdefault(kind, []).append(max(vs))
    torch.set_num_threads(1)
    print(f"\n== {model} (H={steps}, k={k}, miner on {device.type} with threads {miner_threads}) ==")
    if exact_total:
        print(
            f"exact: {exact_segments}/{exact_total} segments bit-identical when the verifier uses the miner's thread count"
        )
    for name, kinds in honest.items():
        cells = "  ".join(
            f"{kd}: max {max(kinds[kd]):.2e} p99 {pct(kinds[kd], 0.99):.2e} p50 {statistics.median(kinds[kd]):.2e}"
            for kd in SHOWN
            if kd in kinds
        )
        print(f"honest {name:22s} {cells}")
    for name, kinds in cheat.items():
        cells = "  ".join(f"{kd}: min {min(kinds[kd]):.2e}" for kd in SHOWN if kd in kinds)
        print(f"cheat  {name:22s} {cells}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--device", default="cpu", help="where the miner trains (replays are always on the CPU)")
    ap.add_argument("--models", default="mlp,cnn,tiny-lm")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        from app.miner.devices import configure_determinism

        configure_determinism("cuda")
    print(f"torch {torch.__version__}, CPU kernels {torch.backends.cpu.get_cpu_capability()}, miner device {device}")
    t0 = time.perf_counter()
    for model in args.models.split(","):
        measure(model, args.steps, device, (1, 2) if device.type == "cpu" else (1,))
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
