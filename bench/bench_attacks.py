"""Detection of each attack class of issue 11: real cheating receipts, real verification, in one run.

For every attack class a cheating miner (`tests/adversarial/cheats.py`'s hooks on the real engine, or
the Sybils' poisoned data of `tests/adversarial/backdoor.py`) produces `--receipts` genuinely signed
receipts with their traces (each from its own key, so each has its own data order and draws). Each
receipt then meets what the network does:

- a committee of 4 verifiers, each with its own key and its fixed draw of q = 2 segments
  (`app.pot.challenge`), re-executing them with `Verifier.verify` (exact replay in the receipt's
  configuration, per-tensor bounds otherwise); a challenged blob the miner withholds is `unavailable`;
  each member is then asked *again* (what a withholding miner waits for): the draw must not change;
- if every member accepted: 4 auditors over the vesting window, each re-executing `--audit-segments`
  distinct segments drawn uniformly among those it has not audited (as `app.node.auditor.Auditor`
  draws), with `Verifier.verify_segment`.

Printed per class: the fraction of receipts caught by the committee and by committee plus auditors,
each beside its combinatorial probability from the number of bad segments b of n,
``P(miss) = prod over draws of C(n-b, d) / C(n, d)``, and the probability that a miner who cheats in
every receipt is caught at least once within one vesting window of `--window-receipts` receipts,
``1 - (1 - p)^m``. Last line: verification against training on the default task (H = 1200, k = 20):
one member's check, the whole committee, and committee plus audits (goal: <= 0.05 for one member).

    python bench/bench_attacks.py [--receipts 24] [--save]    # --save: bench/results/attacks.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import crypto  # noqa: E402
from app.core.types import TaskSpec  # noqa: E402
from app.miner import demo  # noqa: E402
from app.miner.loop import RoundOutput  # noqa: E402
from app.pot import config, optim, tolerance  # noqa: E402
from app.pot.blobs import MemoryBlobStore  # noqa: E402
from app.pot.datasets import Split, load_dataset  # noqa: E402
from app.pot.proof import segment_count  # noqa: E402
from app.pot.tensors import decode_tensors  # noqa: E402
from app.pot.verify import DEFAULT_Q, TaskView, Verifier  # noqa: E402
from tests.adversarial.backdoor import poison  # noqa: E402
from tests.adversarial.cheats import ANCHOR, CHAIN, TASK_ID, mine  # noqa: E402

COMMITTEE = 4
AUDITORS = 4
RESULTS = Path(__file__).resolve().parent / "results" / "attacks.json"
OLD_CPU_TOLERANCE, OLD_CUDA_TOLERANCE = 1e-2, 2e-2  # the single-vector tolerances the cheats rode before

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Cheat:
    """One cheating receipt: what was mined, which checkpoints the miner does not serve, its bad segments."""

    out: RoundOutput
    withheld: frozenset[bytes]
    bad: frozenset[int]  # segments that cannot pass (mismatch or a withheld blob), for the combinatorics


@dataclass(frozen=True)
class Env:
    spec: TaskSpec
    store: MemoryBlobStore  # every blob any miner made
    data: Split
    n: int


def _direction(state: State, seed: int) -> State:
    """A fixed unit direction per parameter tensor: where a cheat steers (a stand-in for a backdoor's)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in sorted(state.items()):
        if k.startswith(optim.PARAM):
            d = torch.randn(v.shape, generator=g)
            out[k] = d / d.norm()
    return out


def ride(env: Env, key: crypto.SigningKey, fraction: float, label: str | None = None, room: float = 0.0) -> Cheat:
    """Add `fraction` of each parameter's travel in the segment, in a chosen direction, at every checkpoint.

    `room`: the parameter bound the verifier applies to this label (0 when it replays exactly): a
    segment bent by less than that is not a bad segment for any verifier.
    """
    prev: dict[str, State] = {}

    def commit(j: int, state: State) -> State:
        start = prev.get("s") or decode_tensors(env.store.get(env.spec.initial_checkpoint))
        d = _direction(state, 7)
        bent = {k: v + fraction * float((v - start[k]).norm()) * d[k] if k in d else v for k, v in state.items()}
        prev["s"] = bent
        return bent

    out = mine(env.spec, key, env.store, env.data, commit=commit, label=label)
    return Cheat(out, frozenset(), frozenset(range(env.n)) if fraction > room else frozenset())


def steer(env: Env, key: crypto.SigningKey) -> Cheat:
    """Rewrite the AdamW moments by 2% at every checkpoint (the old single vector hid this in the step counters)."""

    def commit(j: int, state: State) -> State:
        return {k: v * 1.02 if k.endswith(".exp_avg") or k.endswith(".exp_avg_sq") else v for k, v in state.items()}

    return Cheat(mine(env.spec, key, env.store, env.data, commit=commit), frozenset(), frozenset(range(env.n)))


def lazy(env: Env, key: crypto.SigningKey, rng: random.Random, withhold: bool) -> Cheat:
    """Skip 10% of the segments (never the last); optionally withhold the made-up checkpoints."""
    skipped = frozenset(rng.sample(range(env.n - 1), max(1, env.n // 10)))
    out = mine(env.spec, key, env.store, env.data, train_segment=lambda j: j not in skipped)
    if not withhold:
        return Cheat(out, frozenset(), skipped)
    withheld = frozenset(out.trace.checkpoints[j + 1] for j in skipped)
    # a skipped segment's end is its start, so the same blob: every segment touching a withheld digest
    cps = out.trace.checkpoints
    return Cheat(out, withheld, frozenset(j for j in range(env.n) if cps[j] in withheld or cps[j + 1] in withheld))


def degenerate(env: Env, key: crypto.SigningKey) -> Cheat:
    """First layer zeroed (all activations 0) and the output bias set from label counts: no pass over data."""
    counts = torch.bincount(env.data.targets.long(), minlength=10).double()
    prior = (counts / counts.sum()).log().float()

    def commit(j: int, state: State) -> State:
        out = dict(state)
        for k in ("param.hidden.0.weight", "param.hidden.0.bias"):
            out[k] = torch.zeros_like(state[k])
        out["param.out.bias"] = prior.clone()
        return out

    out = mine(env.spec, key, env.store, env.data, train_segment=lambda j: False, commit=commit)
    return Cheat(out, frozenset(), frozenset(range(env.n)))


def sybil(env: Env, key: crypto.SigningKey, poisoned: Split) -> Cheat:
    """Honest training code on a poisoned copy of the data (half the samples triggered, relabelled 0)."""
    return Cheat(mine(env.spec, key, env.store, poisoned), frozenset(), frozenset(range(env.n)))


def honest(env: Env, key: crypto.SigningKey) -> Cheat:
    return Cheat(mine(env.spec, key, env.store, env.data), frozenset(), frozenset())


def served_store(env: Env, cheat: Cheat) -> MemoryBlobStore:
    """What the network can fetch from this miner: everything but its withheld blobs."""
    s = MemoryBlobStore()
    for digest in set(cheat.out.trace.checkpoints) | {cheat.out.update_hash, env.spec.initial_checkpoint}:
        if digest not in cheat.withheld:
            s.put(env.store.get(digest))
    return s


def p_miss(n: int, bad: int, draws: int, per: int) -> float:
    """Probability that `draws` independent uniform draws of `per` distinct segments all miss `bad` of `n`."""
    per = min(per, n)
    return (math.comb(n - bad, per) / math.comb(n, per)) ** draws if bad < n else 0.0


def check(
    env: Env, cheat: Cheat, committee: list[crypto.SigningKey], audit_segments: int, rng: random.Random
) -> dict[str, object]:
    """The committee's verdicts (asked twice), then the auditors' if every member accepted."""
    store = served_store(env, cheat)
    view = {TASK_ID: TaskView(env.spec, 0, env.spec.initial_checkpoint, ANCHOR)}
    verifiers = [
        Verifier(CHAIN, view, store, lambda _s: env.data, torch.device("cpu"), DEFAULT_Q, key=k) for k in committee
    ]
    first = [v.verify(cheat.out.receipt, cheat.out.trace) for v in verifiers]
    again = [v.verify(cheat.out.receipt, cheat.out.trace) for v in verifiers]
    redraw_flips = sum(a.accepted != b.accepted for a, b in zip(first, again))
    rejected = [v for v in first if not v.accepted]
    result: dict[str, object] = {
        "committee": bool(rejected),
        "redraw_flips": redraw_flips,
        "reasons": sorted({v.reason for v in rejected}),
        "audit": False,
    }
    if not rejected:
        auditor = Verifier(CHAIN, view, store, lambda _s: env.data, torch.device("cpu"), DEFAULT_Q)
        for _ in range(AUDITORS):
            for j in rng.sample(range(env.n), min(audit_segments, env.n)):
                verdict = auditor.verify_segment(cheat.out.receipt, cheat.out.trace, j)
                if not verdict.accepted:
                    result["audit"] = True
                    result["reasons"] = [verdict.reason]
                    break
            if result["audit"]:
                break
    return result


def cost(audit_segments: int) -> dict[str, float]:
    """CPU seconds: one honest round of the default task vs one member's verification (median of 2)."""
    spec = demo.default_task_spec()
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    view = {TASK_ID: TaskView(spec, 0, spec.initial_checkpoint, ANCHOR)}
    ratios, segment = [], []
    for i in range(2):
        key = crypto.SigningKey.from_seed(bytes([200 + i]) * 32)
        t = time.process_time()
        out = mine(spec, key, store, data)
        train_s = time.process_time() - t
        v = Verifier(CHAIN, view, store, lambda _s: data, torch.device("cpu"), DEFAULT_Q)
        t = time.process_time()
        assert v.verify(out.receipt, out.trace).accepted
        ratios.append((time.process_time() - t) / train_s)
        t = time.process_time()
        assert v.verify_segment(out.receipt, out.trace, 0).accepted
        segment.append((time.process_time() - t) / train_s)
    member = statistics.median(ratios)
    audit = statistics.median(segment) * AUDITORS * audit_segments
    return {
        "member": member,
        "committee": member * COMMITTEE,
        "committee_and_audit": member * COMMITTEE + audit,
        "segments": segment_count(spec),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--receipts", type=int, default=24, help="cheating receipts per attack class")
    ap.add_argument(
        "--audit-segments",
        type=int,
        default=2,
        help="segments each of the 4 auditors re-executes per receipt while it vests",
    )
    ap.add_argument(
        "--window-receipts",
        type=int,
        default=4,
        help="receipts one miner has vesting at once (for the per-miner figure)",
    )
    ap.add_argument("--save", action="store_true", help=f"also write {RESULTS.relative_to(RESULTS.parents[2])}")
    args = ap.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    # The default task's segment count (60) on a cheap round: 120 steps, a checkpoint every 2.
    spec = demo.task_spec(local_steps=120, checkpoint_interval=2, batch_size=32)
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    env = Env(spec, store, data, segment_count(spec))
    poisoned = poison(data, 0.5)
    rng = random.Random(11)
    cuda = config.DeviceConfig("cuda", torch.__version__, "sm90", 0, True).label()
    inside = 0.5 * tolerance.CPU_GPU.param
    classes: dict[str, Callable[[crypto.SigningKey], Cheat]] = {
        "honest (control)": lambda k: honest(env, k),
        "optimiser-state steering": lambda k: steer(env, k),
        "riding the tolerance": lambda k: ride(env, k, 0.9 * OLD_CPU_TOLERANCE),
        "false device class": lambda k: ride(
            env, k, 0.9 * OLD_CUDA_TOLERANCE, label=cuda, room=tolerance.CPU_GPU.param
        ),
        "false device class, inside the cross bound": lambda k: ride(
            env, k, inside, label=cuda, room=tolerance.CPU_GPU.param
        ),
        "withholding a challenged blob": lambda k: lazy(env, k, rng, withhold=True),
        "lazy miner, 90% honest": lambda k: lazy(env, k, rng, withhold=False),
        "degenerate network": lambda k: degenerate(env, k),
        "Sybil backdoors": lambda k: sybil(env, k, poisoned),
    }
    committee = [crypto.SigningKey.from_seed(bytes([150 + i]) * 32) for i in range(COMMITTEE)]
    report: dict[str, object] = {}
    print(f"{'attack class':44s} {'bad/n':>7s} {'committee':>17s} {'+auditors':>17s} {'miner/window':>12s}  reasons")
    for c, (name, make) in enumerate(classes.items()):
        outcomes, bads = [], []
        for i in range(args.receipts):
            cheat = make(crypto.SigningKey.from_seed(bytes([c + 1, i + 1]) * 16))
            outcomes.append(check(env, cheat, committee, args.audit_segments, rng))
            bads.append(len(cheat.bad))
        n, b = env.n, statistics.median(bads)
        caught_c = sum(o["committee"] for o in outcomes) / len(outcomes)
        caught_a = sum(o["committee"] or o["audit"] for o in outcomes) / len(outcomes)
        p_c = 1 - p_miss(n, int(b), COMMITTEE, DEFAULT_Q) if b else 0.0
        p_a = (
            1 - p_miss(n, int(b), COMMITTEE, DEFAULT_Q) * p_miss(n, int(b), AUDITORS, args.audit_segments) if b else 0.0
        )
        window = 1 - (1 - caught_a) ** args.window_receipts
        reasons = Counter(r for o in outcomes for r in o["reasons"])
        flips = sum(o["redraw_flips"] for o in outcomes)
        print(
            f"{name:44s} {int(b):>3d}/{n:<3d} {caught_c:7.1%} (p {p_c:6.1%}) {caught_a:7.1%} (p {p_a:6.1%}) {window:11.2%}  "
            f"{dict(reasons)}{f' redraw flips {flips}' if flips else ''}",
            flush=True,
        )
        report[name] = {
            "receipts": len(outcomes),
            "bad_segments": b,
            "segments": n,
            "committee_caught": caught_c,
            "committee_caught_p": p_c,
            "caught_with_audit": caught_a,
            "caught_with_audit_p": p_a,
            "miner_caught_in_window": window,
            "reasons": dict(reasons),
            "redraw_flips": flips,
        }
    c = cost(args.audit_segments)
    print(
        f"verification / training on the default task (H=1200, k=20, n={c['segments']}): one member {c['member']:.4f}, "
        f"committee of {COMMITTEE} {c['committee']:.4f}, committee + audits {c['committee_and_audit']:.4f}  "
        f"(ran {time.perf_counter() - started:.0f} s)"
    )
    doc = {
        "committee": COMMITTEE,
        "q": DEFAULT_Q,
        "auditors": AUDITORS,
        "audit_segments_per_auditor": args.audit_segments,
        "window_receipts": args.window_receipts,
        "attacks": report,
        "cost": c,
        "torch": torch.__version__,
    }
    if args.save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
