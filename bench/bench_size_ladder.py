"""The proof's costs along the registry's size ladder (issue 14): do they stay bounded as the model grows?

Per tiny-lm rung (app.pot.registry.SIZE_LADDER), for one round of H steps with a checkpoint every k:

- train     : the miner's round (train_round on a disk blob store, as the node runs it)
- ckpt      : one checkpoint's bytes (parameters + AdamW state)
- disk      : the round's peak bytes in the miner's store (base, checkpoints kept, update), and that
              over one checkpoint (goal <= 3); beside it what keeping all H/k checkpoints would take
- fetched   : the bytes a verifier fetches for one receipt at q (its fixed draw), on this configuration
              (exact replay: segment ends checked by hash, not fetched)
- fetch     : the verifier's gather (here from the miner's disk into its own, fsynced; a network in use)
- verify    : the verifier's replay (checks, decoding, q segments re-executed), and over training
              (goal <= 0.05), for the round's first receipt and for a next one (base already decoded);
              the re-executed steps alone are q*k/H of the round's (printed at the end). "paired": a next
              receipt's verification over training steps timed right after it (median of --verify-reps),
              robust to a machine whose speed drifts between the round and the verification
- recomp    : the miner's time to re-compute the challenged checkpoints it did not keep, answering
              the verifier (from the nearest kept one: up to a round's training, half on average)
- aggregate : aggregating the round's verified updates (usefulness rule on the held-out split)
- PoT/bare  : the PoT loop's throughput over a bare PyTorch loop on the same model (goal >= 0.97 for
              the medium and large rungs; bench_training.py's loops alternating in this same run, median
              of --pairs), by wall clock and by this process's CPU time (robust to other load on a shared
              machine; it counts the checkpoint thread's copying, hashing and writing, which wall clock
              hides on an idle second core). The PoT loop runs in each keep mode of --pot-keep (default
              `all`, the miner's default); a last table gives each mode's seconds beside the bare loop's.
              --ratio-only measures only this.

and, at the end, each cost's growth exponent against the parameter count (log-log slope between the
smallest and largest rung measured). Device: CUDA when present, else MPS, else CPU.

    python bench/bench_size_ladder.py [--sizes xs,s,m,l,xl] [--steps 200] [--k 4] [--batch 4] [--q 2]
    python bench/bench_size_ladder.py --sizes s,m,l --pairs 3 --pot-keep all,sparse --ratio-only
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import Clock, bare_loop, pot_loop  # noqa: E402

from app.core import crypto  # noqa: E402
from app.core.blobstore import BlobStore  # noqa: E402
from app.miner import demo  # noqa: E402
from app.miner.devices import select_device, synchronize  # noqa: E402
from app.miner.loop import RoundJob, RoundOutput, train_round  # noqa: E402
from app.miner.recompute import recompute_checkpoints  # noqa: E402
from app.miner.resume import ResumeDir  # noqa: E402
from app.node.work import Gathered, TrainingWork  # noqa: E402
from app.pot import registry  # noqa: E402
from app.pot.aggregate import aggregate_round  # noqa: E402
from app.pot.datasets import load_dataset, load_split  # noqa: E402
from app.pot.engine import Session, run_steps  # noqa: E402
from app.pot.proof import segment_count  # noqa: E402
from app.pot.tensors import decode_tensors  # noqa: E402
from app.pot.verify import TaskView  # noqa: E402

CHAIN = "bench"
TASK = bytes(32)
ANCHOR = bytes([1]) * 32
KEEP = {"size": None, "sparse": False, "all": True}  # train_round's keep_every


def store_bytes(store: BlobStore) -> int:
    return sum(store.size_of(d) for d in store.list())


def measure(name: str, args: argparse.Namespace, device: torch.device, tmp: Path) -> dict[str, float]:
    hp = registry.SIZE_LADDER[name]
    spec = demo.task_spec(
        "fables", "tiny-lm", hp, local_steps=args.steps, checkpoint_interval=args.k, batch_size=args.batch
    )
    params = registry.parameter_count("tiny-lm", 1, spec.hyperparams)
    miner_store = BlobStore(tmp / name / "miner")
    demo.seed_blobs(miner_store, spec)
    data = load_dataset(miner_store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    before = store_bytes(miner_store)
    peak = [0]

    def sample(_: object) -> None:  # the store's size as training goes (every few steps)
        peak[0] = max(peak[0], store_bytes(miner_store) - before)

    outs: list[RoundOutput] = []
    train_s = 0.0
    for m in range(args.miners):
        key = crypto.SigningKey.from_seed(bytes([m + 1]) * 32)
        job = RoundJob(CHAIN, TASK, spec, 0, ANCHOR, spec.initial_checkpoint)
        synchronize(device)
        t0 = time.perf_counter()
        out = train_round(
            job,
            key,
            miner_store,
            data,
            device=device,
            resume=ResumeDir(tmp / name / f"resume{m}"),
            progress=sample if m == 0 else None,
            report_every=max(1, args.k),
            keep_every=KEEP[args.keep],
        )
        synchronize(device)
        if m == 0:
            train_s = time.perf_counter() - t0
            sample(None)
        assert isinstance(out, RoundOutput)
        outs.append(out)
    ckpt = miner_store.size_of(outs[0].trace.checkpoints[-1])
    base = miner_store.size_of(spec.initial_checkpoint)
    disk = peak[0] + base  # the round's base is the global checkpoint the miner holds for it

    fetched, fetch_s, verify_s, next_s, paired, recompute_s = verify_round(
        name, spec, miner_store, data, outs, device, tmp, args
    )

    validation = load_split(miner_store, [spec.validation_shard])
    t0 = time.perf_counter()
    aggregate_round(
        task_id=TASK,
        round_number=0,
        spec=spec,
        base_checkpoint=spec.initial_checkpoint,
        verified=[o.receipt for o in outs],
        store=miner_store,
        validation=validation,
        device=device,
    )
    aggregate_s = time.perf_counter() - t0

    ratios = throughput(spec, miner_store, data, device, tmp / name, args)
    return {
        "params": params,
        "train_s": train_s,
        "ckpt": ckpt,
        "disk": disk,
        "all_kept": base + ckpt * segment_count(spec),
        "fetched": fetched,
        "fetch_s": fetch_s,
        "verify_s": verify_s,
        "verify_next_s": next_s,
        "verify_paired": paired,
        "recompute_s": recompute_s,
        "aggregate_s": aggregate_s,
        **ratios,
    }


def verify_round(  # type: ignore[no-untyped-def]
    name: str, spec, miner_store: BlobStore, data, outs: list[RoundOutput], device: torch.device, tmp: Path, args
) -> tuple[int, float, float, float, float, float]:
    """A verifier's gather and replay of the first receipt: (bytes fetched, fetch s, verify s, verify s of a
    next receipt (median), a next receipt over training steps timed beside it (median), the miner's
    re-computation s)."""
    fetched: list[int] = []
    recompute_s = [0.0]
    trace = outs[0].trace

    def fetch(digest: bytes) -> bytes:
        """The miner's blob server: a checkpoint it did not keep is re-computed (`app.miner.recompute`)."""
        if not miner_store.has(digest) and digest in trace.checkpoints:
            t0 = time.perf_counter()
            recompute_checkpoints(
                RoundJob(CHAIN, TASK, spec, 0, ANCHOR, spec.initial_checkpoint),
                crypto.SigningKey.from_seed(bytes([1]) * 32).public_key,
                miner_store,
                data,
                trace,
                [trace.checkpoints.index(digest)],
                device,
                outs[0].receipt.device_class,
            )
            synchronize(device)
            recompute_s[0] += time.perf_counter() - t0
        blob = miner_store.get(digest)
        fetched.append(len(blob))
        return blob

    verifier_store = BlobStore(tmp / name / "verifier")
    demo.seed_blobs(verifier_store, spec)  # the task's data and the global checkpoint: every node has them
    work = TrainingWork(
        CHAIN,
        verifier_store,
        fetch,
        lambda r: outs[0].trace,
        q=args.q,
        device=device,
        key=crypto.SigningKey.from_seed(bytes([77]) * 32),
    )
    view = TaskView(spec, 0, spec.initial_checkpoint, ANCHOR)
    work.training_data(spec)  # loaded once per task, not per receipt
    t0 = time.perf_counter()
    gathered = work.gather(outs[0].receipt, view)  # the network part (here: the miner's disk, fsynced copies)
    fetch_s = time.perf_counter() - t0 - recompute_s[0]  # the miner's re-computation is not the verifier's
    if not isinstance(gathered, Gathered):
        raise SystemExit(f"{name}: the honest receipt was refused: {gathered.verdict}")
    synchronize(device)
    t0 = time.perf_counter()
    checked = work.replay(outs[0].receipt, view, gathered)
    synchronize(device)
    verify_s = time.perf_counter() - t0
    if not checked.verdict.accepted:
        raise SystemExit(f"{name}: the honest receipt was refused: {checked.verdict}")
    # A validator checks every receipt of the round: from the second on, the round's base is already
    # decoded (TrainingWork's DecodedCache) and the process warm. Timed on the same receipt again (the
    # same draw, the same bytes: what a next receipt of this size costs), --verify-reps times, each
    # paired with training steps timed right after it: this VM's speed drifts by a fifth over minutes,
    # so a verification is compared with training measured seconds, not a minute, away. The steps are
    # the PoT loop's own (`run_steps`) without its checkpoint thread, so the ratio errs high.
    session = Session(spec, device)
    session.load(decode_tensors(miner_store.get(spec.initial_checkpoint)))
    loss = torch.zeros((), device=device)
    on_device = data.to(device)
    run_steps(session, on_device, ANCHOR, 0, 1, loss)  # warm
    nexts: list[float] = []
    paired: list[float] = []
    for rep in range(max(1, args.verify_reps)):
        t0 = time.perf_counter()
        again = work.replay(outs[0].receipt, view, gathered)
        synchronize(device)
        nexts.append(time.perf_counter() - t0)
        if not again.verdict.accepted:
            raise SystemExit(f"{name}: the honest receipt was refused again: {again.verdict}")
        steps = 4 * args.q * args.k
        t0 = time.perf_counter()
        run_steps(session, on_device, ANCHOR, 1 + rep * steps, 1 + (rep + 1) * steps, loss)
        synchronize(device)
        paired.append(nexts[-1] / ((time.perf_counter() - t0) / steps * spec.local_steps))
    return sum(fetched), fetch_s, verify_s, statistics.median(nexts), statistics.median(paired), recompute_s[0]


def throughput(
    spec, store: BlobStore, data, device: torch.device, tmp: Path, args: argparse.Namespace
) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """PoT/bare throughput against the same run's bare loop: runs alternate (bare, then PoT in each mode
    of --pot-keep, then the other way round) so all see the same machine load; per mode the median over --pairs of bare/PoT, by
    wall clock and by this process's CPU time, and the medians of the seconds themselves."""
    modes = [m for m in args.pot_keep.split(",") if m]
    out: dict[str, float] = {"pot_bare": float("nan"), "pot_bare_cpu": float("nan")}
    if not args.pairs:
        return out
    init = decode_tensors(store.get(spec.initial_checkpoint))
    warm = spec.replace(local_steps=2 * spec.checkpoint_interval)  # allocator, kernels, caches
    bare_loop(warm, init, data, device)
    for mode in modes:
        pot_loop(warm, store, data, device, tmp / f"warm-{mode}", 99, KEEP[mode])
    bares: list[Clock] = []
    pots: dict[str, list[Clock]] = {m: [] for m in modes}
    for p in range(args.pairs):
        # bare first in even pairs, last in odd ones (A B, B A, ...): a machine that speeds up or slows
        # down steadily over the run biases neither loop
        if p % 2 == 0:
            bares.append(bare_loop(spec, init, data, device))
        for i, mode in enumerate(modes):
            pots[mode].append(
                pot_loop(spec, store, data, device, tmp / f"pair{p}-{mode}", 100 + p * 10 + i, KEEP[mode])
            )
        if p % 2 == 1:
            bares.append(bare_loop(spec, init, data, device))
    out["bare_wall"] = statistics.median(b.wall for b in bares)
    out["bare_cpu"] = statistics.median(b.cpu for b in bares)
    for n, mode in enumerate(modes):
        runs = pots[mode]
        ratio = statistics.median(b.wall / r.wall for b, r in zip(bares, runs))
        cpu_ratio = statistics.median(b.cpu / r.cpu for b, r in zip(bares, runs))
        out[f"{mode}_wall"] = statistics.median(r.wall for r in runs)
        out[f"{mode}_cpu"] = statistics.median(r.cpu for r in runs)
        out[f"{mode}_ratio"], out[f"{mode}_ratio_cpu"] = ratio, cpu_ratio
        if n == 0:
            out["pot_bare"], out["pot_bare_cpu"] = ratio, cpu_ratio
    return out


def print_ratios(sizes: list[str], rows: list[dict[str, float]], modes: list[str]) -> None:
    """The throughput table: each size's bare loop and PoT loop (per keep mode), seconds and ratios."""
    print(
        "PoT/bare throughput against the same run's bare loop (median of the pairs; goal >= 0.97 for m and l;"
        " wall clock hides the writer thread on an idle second core, CPU time counts it):"
    )
    print(
        f"{'size':>4} {'mode':>6} {'bare s':>7} {'bare CPU':>8} {'PoT s':>7} {'PoT CPU':>8} {'wall ratio':>10} {'CPU ratio':>9}"
    )
    for name, r in zip(sizes, rows):
        for mode in modes:
            if f"{mode}_ratio" not in r:
                continue
            print(
                f"{name:>4} {mode:>6} {r['bare_wall']:>7.2f} {r['bare_cpu']:>8.2f} {r[f'{mode}_wall']:>7.2f} "
                f"{r[f'{mode}_cpu']:>8.2f} {r[f'{mode}_ratio']:>10.3f} {r[f'{mode}_ratio_cpu']:>9.3f}"
            )


def ratios_alone(name: str, args: argparse.Namespace, device: torch.device, tmp: Path) -> dict[str, float]:
    """`throughput` for one rung without the rest of `measure` (--ratio-only)."""
    spec = demo.task_spec(
        "fables",
        "tiny-lm",
        registry.SIZE_LADDER[name],
        local_steps=args.steps,
        checkpoint_interval=args.k,
        batch_size=args.batch,
    )
    store = BlobStore(tmp / name / "miner")
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    r = throughput(spec, store, data, device, tmp / name, args)
    print(f"{name}: done", flush=True)
    return r


def slope(rows: list[dict[str, float]], key: str) -> float:
    a, b = rows[0], rows[-1]
    if a[key] <= 0 or b[key] <= 0 or a["params"] == b["params"]:
        return float("nan")
    return math.log(b[key] / a[key]) / math.log(b["params"] / a["params"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(registry.SIZE_LADDER))
    ap.add_argument("--steps", type=int, default=200, help="H per round")
    ap.add_argument("--k", type=int, default=4, help="steps per checkpoint")
    ap.add_argument("--batch", type=int, default=4, help="sequences of 64 bytes per step")
    ap.add_argument("--q", type=int, default=2, help="segments a verifier challenges")
    ap.add_argument("--miners", type=int, default=1, help="receipts aggregated (each trains the round)")
    ap.add_argument("--verify-reps", type=int, default=3, help="next-receipt verifications timed (median)")
    ap.add_argument("--pairs", type=int, default=1, help="bare/PoT pairs for the throughput ratio (0: skip)")
    ap.add_argument(
        "--pot-keep",
        default="all",
        help="keep modes of the PoT loop in the throughput pairs, comma-separated (all: the miner's default)",
    )
    ap.add_argument(
        "--ratio-only", action="store_true", help="measure only the PoT/bare throughput (no round, verify, aggregate)"
    )
    ap.add_argument("--threads", type=int, default=1, help="CPU threads")
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--keep",
        choices=tuple(KEEP),
        default="sparse",
        help="checkpoints kept: base/end/resume point (sparse), by checkpoint size, or all",
    )
    args = ap.parse_args()
    device = select_device(args.device, cpu_threads=args.threads)
    sizes = args.sizes.split(",")
    print(
        f"device={device.type} threads={torch.get_num_threads()} H={args.steps} k={args.k} batch={args.batch}x64 "
        f"q={args.q} miners={args.miners} keep={args.keep}"
    )
    modes = [m for m in args.pot_keep.split(",") if m]
    if args.ratio_only:
        with tempfile.TemporaryDirectory() as tmp:
            print_ratios(sizes, [ratios_alone(name, args, device, Path(tmp)) for name in sizes], modes)
        return
    head = (
        f"{'size':>4} {'params':>10} {'train s':>8} {'ckpt MB':>8} {'disk MB':>8} {'disk/ckpt':>9} "
        f"{'all-kept MB':>11} {'fetched MB':>10} {'fetch s':>7} {'verify s':>8} {'verify/train':>12} "
        f"{'next s':>6} {'next/train':>10} {'paired':>6} "
        f"{'recomp s':>8} {'aggr s':>7} {'PoT/bare':>8} {'(CPU s)':>7}"
    )
    print(head)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in sizes:
            r = measure(name, args, device, Path(tmp))
            rows.append(r)
            mb = 1e6
            print(
                f"{name:>4} {r['params']:>10,.0f} {r['train_s']:>8.2f} {r['ckpt'] / mb:>8.1f} {r['disk'] / mb:>8.1f} "
                f"{r['disk'] / r['ckpt']:>9.2f} {r['all_kept'] / mb:>11.1f} {r['fetched'] / mb:>10.1f} "
                f"{r['fetch_s']:>7.2f} {r['verify_s']:>8.2f} {r['verify_s'] / r['train_s']:>12.3f} "
                f"{r['verify_next_s']:>6.2f} {r['verify_next_s'] / r['train_s']:>10.3f} {r['verify_paired']:>6.3f} "
                f"{r['recompute_s']:>8.2f} {r['aggregate_s']:>7.2f} "
                f"{r['pot_bare']:>8.3f} {r['pot_bare_cpu']:>7.3f}",
                flush=True,
            )
    if len(rows) > 1:
        print("growth with the parameter count (log-log slope, first to last rung; 1 = linear):")
        for key in ("train_s", "ckpt", "disk", "fetched", "verify_s", "aggregate_s"):
            print(f"  {key:<12} ~ params^{slope(rows, key):.2f}")
    print_ratios(sizes, rows, modes)
    worst_disk = max(r["disk"] / r["ckpt"] for r in rows)
    worst_verify = max(r["verify_s"] / r["train_s"] for r in rows)
    worst_next = max(r["verify_next_s"] / r["train_s"] for r in rows)
    worst_paired = max(r["verify_paired"] for r in rows)
    floor = args.q * args.k / args.steps
    print(
        f"worst disk/ckpt = {worst_disk:.2f} (goal <= 3); worst verify/train = {worst_verify:.3f} (first receipt), "
        f"{worst_next:.3f} (a next one), {worst_paired:.3f} (a next one against training steps timed beside it) "
        f"(goal <= 0.05); re-execution alone is q*k/H = {floor:.3f} of the steps"
    )


if __name__ == "__main__":
    main()
