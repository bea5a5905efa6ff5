"""Checking a work receipt: cheap rules first, then re-execution of q randomly challenged segments.

The segments are drawn *after* the receipt is committed, from the verifier's own randomness
(`secrets`), so a miner can neither predict which of its checkpoints will be checked nor grind its
receipt until the draw suits it; each committee member draws independently before it votes. A
segment `j` is re-executed from the committed checkpoint `j` (parameters and optimiser state) on the
batches of steps `j*k .. (j+1)*k - 1` drawn from the *receipt's* miner key, and must land within the
device class's tolerance of the committed checkpoint `j+1`.

Every failure is a `Verdict(False, reason, detail)` whose reason is a stable identifier (listed in
docs/PROTOCOL.md, Part 4); `verify` never raises on hostile input.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from app.core.errors import InvalidReceipt, InvalidSignature
from app.core.types import TaskSpec, WorkReceipt
from app.miner import optim, registry
from app.miner.blobs import BlobStore, fetch_verified
from app.miner.datasets import Split, round_seed
from app.miner.engine import Session, run_steps
from app.miner.hparams import InvalidTaskSpec
from app.miner.loop import update_tensors
from app.miner.proof import LOSS_SCALE, CheckpointOpening, segment_count
from app.miner.tensors import decode_tensors

DEFAULT_Q = 2

# Largest accepted relative distance between a re-executed and a committed checkpoint, per device
# class of the receipt (docs/TOLERANCES.md: `bench/bench_verify.py --noise`). On CPU, honest
# re-execution with other thread counts reaches 1.8e-3 (the transformer; 0 to 7e-7 for the MLP and
# CNN) while another data order, poisoned labels or skipped steps never come under 4.5e-2. GPU classes
# are provisional until measured on the hardware: a 1e-6 perturbation of the start (a stand-in for
# another device's rounding) reaches 2.1e-3.
TOLERANCES: dict[str, float] = {"cpu": 1e-2, "cuda": 2e-2, "mps": 2e-2}
LOSS_TOLERANCE = 0.01  # relative, on the last segment's mean loss


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    detail: str = ""


ACCEPTED = "ok"


@dataclass(frozen=True)
class TaskView:
    """What the chain says about a task now: its spec, open round, global checkpoint and anchor."""

    spec: TaskSpec
    current_round: int
    current_checkpoint: bytes
    anchor_block_hash: bytes
    finished: bool = False


class Openings(Protocol):
    """Answers challenges: the checkpoint hash at a leaf of the receipt's trace, with its proof."""

    def opening(self, index: int) -> CheckpointOpening: ...


def choose_segments(n_segments: int, q: int, rng: secrets.SystemRandom | None = None) -> list[int]:
    """`min(q, n)` distinct segment indices drawn with the verifier's private randomness."""
    rng = rng or secrets.SystemRandom()
    return sorted(rng.sample(range(n_segments), min(q, n_segments)))


def relative_distance(reexec: Mapping[str, torch.Tensor], committed: Mapping[str, torch.Tensor], start: Mapping[str, torch.Tensor]) -> float:
    """max over parameters (distance / distance travelled in the segment) and optimiser state (distance / norm)."""
    if set(reexec) != set(committed) or any(reexec[n].shape != committed[n].shape for n in committed):
        return math.inf
    worst = 0.0
    params = [n for n in committed if n.startswith(optim.PARAM)]
    slots = [n for n in committed if not n.startswith(optim.PARAM)]
    groups = ((params, True), (slots, False))
    for names, moved in groups:
        if not names:
            continue
        diff = sum(float(((reexec[n].double() - committed[n].double()) ** 2).sum()) for n in names)
        if moved:
            scale = sum(float(((committed[n].double() - start[n].double()) ** 2).sum()) for n in names)
        else:
            scale = sum(float((committed[n].double() ** 2).sum()) for n in names)
        worst = max(worst, math.sqrt(diff) / max(math.sqrt(scale), 1e-12))
    return worst


class Verifier:
    """Verifies receipts against the chain's view of tasks, fetching blobs from `store`."""

    def __init__(
        self,
        chain_id: str,
        tasks: Mapping[bytes, TaskView],
        store: BlobStore,
        training_data: Callable[[TaskSpec], Split],
        device: torch.device,
        q: int = DEFAULT_Q,
        tolerances: Mapping[str, float] = TOLERANCES,
    ) -> None:
        self.chain_id, self.tasks, self.store = chain_id, tasks, store
        self.training_data, self.device, self.q, self.tolerances = training_data, device, q, tolerances

    def verify(self, receipt: WorkReceipt, openings: Openings, segments: Sequence[int] | None = None) -> Verdict:
        """The verdict on `receipt`; `segments` overrides the random draw (fraud proofs, tests)."""
        try:
            self._check(receipt, openings, segments)
        except InvalidReceipt as exc:
            return Verdict(False, exc.reason, exc.detail)
        return Verdict(True, ACCEPTED)

    def verify_segment(self, receipt: WorkReceipt, openings: Openings, segment: int) -> Verdict:
        """Re-execute one segment of an already included receipt (a fraud-proof check).

        Applies the receipt's own rules (chain, signature, task spec, device class, openings) but not
        the "open round" ones: the task view given for the receipt's task is the one of the round it
        was included in, which may be over.
        """
        try:
            view = self._common(receipt)
            session = Session(view.spec, self.device)
            n = segment_count(view.spec)
            if not 0 <= segment < n:
                raise InvalidReceipt("bad-segment", f"segment {segment} outside 0..{n - 1}")
            opened = _Opened(openings, self.store, receipt.commitments_root, n + 1)
            seed = round_seed(view.anchor_block_hash, receipt.miner, receipt.task_id, receipt.round)
            self._replay(session, self.training_data(view.spec), seed, opened, segment, n, receipt)
        except InvalidReceipt as exc:
            return Verdict(False, exc.reason, exc.detail)
        return Verdict(True, ACCEPTED)

    # ------------------------------------------------------------------ rules

    def _common(self, r: WorkReceipt) -> TaskView:
        """Rules every check shares: chain, signature, a known and trainable task, a known device class."""
        if r.chain_id != self.chain_id:
            raise InvalidReceipt("wrong-chain", f"receipt is for {r.chain_id!r}")
        try:
            r.verify_signature()
        except InvalidSignature as exc:
            raise InvalidReceipt("bad-signature", str(exc)) from None
        view = self.tasks.get(r.task_id)
        if view is None:
            raise InvalidReceipt("unknown-task", r.task_id.hex()[:16])
        try:
            registry.check_task_spec(view.spec)  # on the meta device: cheap, allocates nothing
        except InvalidTaskSpec as exc:
            raise InvalidReceipt(exc.reason, exc.detail) from None
        if r.device_class not in self.tolerances:
            raise InvalidReceipt("unknown-device-class", r.device_class)
        return view

    def _check(self, r: WorkReceipt, openings: Openings, segments: Sequence[int] | None) -> None:
        view = self._common(r)
        if view.finished:
            raise InvalidReceipt("task-finished", r.task_id.hex()[:16])
        if r.round != view.current_round:
            raise InvalidReceipt("wrong-round", f"receipt for round {r.round}, the open round is {view.current_round}")
        if r.base_checkpoint != view.current_checkpoint:
            raise InvalidReceipt("wrong-base", "receipt does not start from the current global checkpoint")
        spec = view.spec
        if r.steps != spec.local_steps:
            raise InvalidReceipt("wrong-steps", f"{r.steps} steps claimed, the task asks {spec.local_steps}")
        n = segment_count(spec)
        opened = _Opened(openings, self.store, r.commitments_root, n + 1)
        if opened.hash(0) != r.base_checkpoint:
            raise InvalidReceipt("base-mismatch", "the trace does not start at the base checkpoint")
        base = opened.tensors(0)
        final = opened.tensors(n)
        update = decode_tensors(fetch_verified(self.store, r.update_hash, "update"))
        _check_update(update, final, base)
        session = Session(spec, self.device)  # the costly part starts only after every cheap rule passed
        chosen = list(segments) if segments is not None else choose_segments(n, self.q)
        data = self.training_data(spec)
        seed = round_seed(view.anchor_block_hash, r.miner, r.task_id, r.round)
        for j in chosen:
            self._replay(session, data, seed, opened, j, n, r)

    def _replay(self, session: Session, data: Split, seed: bytes, opened: "_Opened", j: int, n: int, r: WorkReceipt) -> None:
        if not 0 <= j < n:
            raise ValueError(f"segment {j} outside 0..{n - 1}")
        k = session.spec.checkpoint_interval
        start, committed = opened.tensors(j), opened.tensors(j + 1)
        try:
            session.load(start)
        except ValueError as exc:
            raise InvalidReceipt("malformed-checkpoint", f"checkpoint {j}: {exc}") from None
        loss_sum = torch.zeros((), device=self.device)
        run_steps(session, data.to(self.device), seed, j * k, (j + 1) * k, loss_sum)
        got = session.export()
        distance = relative_distance(got, committed, start)
        tol = self.tolerances[r.device_class]
        if not distance <= tol:
            raise InvalidReceipt("segment-mismatch", f"segment {j}: relative distance {distance:.3g} > {tol:g}")
        if j == n - 1:
            loss = float(loss_sum) / k
            claimed = r.final_loss_micro / LOSS_SCALE
            if abs(loss - claimed) > LOSS_TOLERANCE * max(loss, 1e-3) + 1 / LOSS_SCALE:
                raise InvalidReceipt("loss-mismatch", f"claimed final loss {claimed:.6f}, re-executed {loss:.6f}")


def _check_update(update: Mapping[str, torch.Tensor], final: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor]) -> None:
    """The update blob must be exactly final - base over the parameters (elementwise, bit-exact)."""
    if set(base) != set(optim.params_of(final)) or any(final[n].shape != t.shape or final[n].dtype != t.dtype for n, t in base.items()):
        raise InvalidReceipt("malformed-checkpoint", "final checkpoint parameters differ from the base's")
    expected = update_tensors(dict(final), dict(base))
    if set(update) != set(expected):
        raise InvalidReceipt("update-mismatch", "update tensors are not the model's parameters")
    for name, t in expected.items():
        if update[name].shape != t.shape or not torch.equal(update[name], t):
            raise InvalidReceipt("update-mismatch", f"update of {name} is not final - base")


class _Opened:
    """Checkpoint hashes opened against the commitments root, and their blobs, fetched once each."""

    def __init__(self, openings: Openings, store: BlobStore, root: bytes, leaves: int) -> None:
        self.openings, self.store, self.root, self.leaves = openings, store, root, leaves
        self._hashes: dict[int, bytes] = {}
        self._tensors: dict[int, dict[str, torch.Tensor]] = {}

    def hash(self, index: int) -> bytes:
        if index not in self._hashes:
            try:
                opening = self.openings.opening(index)
            except (IndexError, KeyError, LookupError) as exc:
                raise InvalidReceipt("bad-opening", f"no opening for checkpoint {index}: {exc}") from None
            self._hashes[index] = opening.check(self.root, index, self.leaves)
        return self._hashes[index]

    def tensors(self, index: int) -> dict[str, torch.Tensor]:
        if index not in self._tensors:
            self._tensors[index] = decode_tensors(fetch_verified(self.store, self.hash(index), f"checkpoint {index}"))
        return self._tensors[index]
