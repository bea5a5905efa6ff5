"""Disputes narrowed to one optimiser step: the verifier bisects a failing segment on states the miner reveals.

A failing k-step segment says "the committed end is not what k steps from the committed start give",
but k steps of accumulated float drift is a weak basis for a verdict across configurations. So the
verifier asks the miner for its states inside the segment and bisects (Verde, Truebit): it keeps a step
`lo` whose state it agrees with (at first the committed start) and a step `hi` whose state it disputes
(at first the committed end), asks for the state at `mid`, replays `mid - lo` steps from the miner's
own state at `lo`, and moves `lo` or `hi` to `mid`. After log2(k) reveals, the verdict rests on ONE
optimiser step: the miner's state at `lo` stepped once must give its state at `lo + 1`, bit for bit
when the verifier reproduces the receipt's configuration, within the per-tensor bounds otherwise.

The miner side (`Revealer`) answers each `RevealRequest` by recomputation from its committed
checkpoint and puts the state blob in its blob store; the answer (`Reveal`) names the blob's hash.
Both are plain records (canonical encoding), so a network transport can carry them; the blob travels
like every other blob. A reveal not served is the verdict `unavailable` (the miner is convicted: the
dispute cannot be stalled). Reveals are bound to the dispute's receipt and step; the two ends are
bound to the receipt's commitments root by their openings.

Reasons (stable identifiers): `step-mismatch` (convicted at `step`), `unavailable` (convicted),
`bad-reveal` (convicted: a reveal for another receipt or step), `step-correct` (acquitted).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from app.core.encoding import Bytes32, Record, Uint64
from app.core.errors import InvalidReceipt
from app.core.types import TaskSpec, WorkReceipt
from app.pot import config, tolerance
from app.pot.blobs import BlobStore, put_deferred
from app.pot.datasets import Split, round_seed
from app.pot.engine import Session, run_steps
from app.pot.proof import TrainingTrace, segment_count
from app.pot.tensors import decode_tensors, encode_tensors
from app.pot.verify import UNAVAILABLE, Openings, Verifier, _fetch, _Opened

CONVICTED_STEP = "step-mismatch"
ACQUITTED = "step-correct"
BAD_REVEAL = "bad-reveal"


@dataclass(frozen=True)
class RevealRequest(Record):
    """The verifier asks for the miner's state after `step` steps of the round (inside `segment`)."""

    TAG = 75
    receipt_id: Bytes32
    segment: Uint64
    step: Uint64


@dataclass(frozen=True)
class Reveal(Record):
    """The miner's answer: the hash of its state blob (parameters and optimiser state) after `step` steps."""

    TAG = 76
    receipt_id: Bytes32
    step: Uint64
    state: Bytes32


@dataclass(frozen=True)
class DisputeVerdict:
    """How a dispute ended; `step` is the single step the verdict rests on (-1 when none was reached)."""

    convicted: bool
    reason: str
    step: int
    detail: str = ""


class Revealer:
    """The miner side: recomputes any requested state of its round from its committed checkpoints."""

    def __init__(
        self,
        receipt: WorkReceipt,
        trace: TrainingTrace,
        spec: TaskSpec,
        anchor: bytes,
        data: Split,
        store: BlobStore,
        device: torch.device,
    ) -> None:
        self.receipt, self.trace, self.spec, self.store, self.device = receipt, trace, spec, store, device
        self.data = data.to(device)
        self.seed = round_seed(anchor, receipt.miner, receipt.task_id, receipt.round)

    def state_after(self, segment: int, step: int) -> dict[str, torch.Tensor]:
        """The state after `step` steps, recomputed from committed checkpoint `segment` (a hook for tests' cheats)."""
        k = self.spec.checkpoint_interval
        session = Session(self.spec, self.device)
        session.load(decode_tensors(self.store.get(self.trace.checkpoints[segment])))
        run_steps(session, self.data, self.seed, segment * k, step, torch.zeros((), device=self.device))
        return session.export()

    def answer(self, request: RevealRequest) -> Reveal:
        """Answer one request; `ValueError` for a request outside the receipt's segment."""
        k = self.spec.checkpoint_interval
        j = request.segment
        if (
            request.receipt_id != self.receipt.receipt_id
            or not 0 <= j < segment_count(self.spec)
            or not j * k < request.step <= (j + 1) * k
        ):
            raise ValueError(f"no state {request.step} in segment {j} of this receipt")
        committed = config.parse(self.receipt.device_class)
        # recomputed in the configuration the receipt commits to, so an exact verifier agrees bit for bit
        with config.replaying(committed) if committed.committed else contextlib.nullcontext():
            state = self.state_after(j, request.step)
        digest = put_deferred(self.store, encode_tensors(state))
        return Reveal(receipt_id=request.receipt_id, step=request.step, state=digest)


class Bisection:
    """The verifier side of one dispute over segment `segment` of `receipt`: a state machine over records.

    Loop: `request()` gives the next `RevealRequest` (None when the verdict is in), `feed()` takes the
    miner's `Reveal` (or None when it was not served); `verdict` is set at the end. The verifier's
    task view, store, data and device configuration come from `verifier`.
    """

    def __init__(self, verifier: Verifier, receipt: WorkReceipt, openings: Openings, segment: int) -> None:
        view = verifier._common(receipt)
        self.receipt, self.verifier, self.spec = receipt, verifier, view.spec
        self.rule = verifier.rule(receipt)
        n = segment_count(self.spec)
        if not 0 <= segment < n:
            raise ValueError(f"segment {segment} outside 0..{n - 1}")
        k = self.spec.checkpoint_interval
        self.segment = segment
        opened = _Opened(openings, verifier.store, receipt.commitments_root, n + 1)
        self.lo, self.hi = segment * k, (segment + 1) * k
        self.states: dict[int, bytes] = {self.lo: opened.hash(segment), self.hi: opened.hash(segment + 1)}
        self.data = verifier.training_data(self.spec).to(verifier.device)
        self.seed = round_seed(view.anchor_block_hash, receipt.miner, receipt.task_id, receipt.round)
        self.verdict: DisputeVerdict | None = None
        self.reveals = 0
        if self.hi - self.lo == 1:
            self._final()

    def request(self) -> RevealRequest | None:
        if self.verdict is not None:
            return None
        return RevealRequest(receipt_id=self.receipt.receipt_id, segment=self.segment, step=(self.lo + self.hi) // 2)

    def feed(self, reveal: Reveal | None) -> None:
        """Take the miner's answer to the last request and move one end of the interval."""
        pending = self.request()
        if pending is None:
            raise ValueError("the dispute is over")
        if reveal is None:
            self.verdict = DisputeVerdict(
                True, UNAVAILABLE, pending.step, f"state after step {pending.step} not served"
            )
            return
        if reveal.receipt_id != pending.receipt_id or reveal.step != pending.step:
            self.verdict = DisputeVerdict(
                True, BAD_REVEAL, pending.step, f"reveal for step {reveal.step}, asked {pending.step}"
            )
            return
        self.reveals += 1
        mid = pending.step
        try:
            excess = self._agrees(self.lo, mid, reveal.state)
        except InvalidReceipt as exc:
            self.verdict = DisputeVerdict(
                True, exc.reason if exc.reason == UNAVAILABLE else BAD_REVEAL, mid, exc.detail
            )
            return
        self.states[mid] = reveal.state
        if excess is None:
            self.lo = mid
        else:
            self.hi = mid
        if self.hi - self.lo == 1:
            self._final()

    # ------------------------------------------------------------------ replay

    def _tensors(self, step: int) -> dict[str, torch.Tensor]:
        return decode_tensors(_fetch(self.verifier.store, self.states[step], f"state after step {step}"))

    def _agrees(self, lo: int, hi: int, claimed_hash: bytes) -> tolerance.Excess | None:
        """None when `hi - lo` steps from the miner's state at `lo` give its claimed state at `hi`; else the worst excess."""
        start = self._tensors(lo)
        claimed = decode_tensors(_fetch(self.verifier.store, claimed_hash, f"state after step {hi}"))
        session = Session(self.spec, self.verifier.device)
        try:
            session.load(start)
        except ValueError as exc:
            raise InvalidReceipt(BAD_REVEAL, f"state after step {lo}: {exc}") from None
        with config.replaying(self.rule.replay_config) if self.rule.replay_config else contextlib.nullcontext():
            run_steps(session, self.data, self.seed, lo, hi, torch.zeros((), device=self.verifier.device))
        return tolerance.first_excess(session.export(), claimed, start, self.rule.bounds)

    def _final(self) -> None:
        lo = self.lo
        try:
            excess = self._agrees(lo, lo + 1, self.states[lo + 1])
        except InvalidReceipt as exc:
            self.verdict = DisputeVerdict(True, exc.reason if exc.reason == UNAVAILABLE else BAD_REVEAL, lo, exc.detail)
            return
        mode = "exact" if self.rule.exact else "within bounds"
        if excess is None:
            self.verdict = DisputeVerdict(False, ACQUITTED, lo, f"step {lo} replays {mode}")
        else:
            self.verdict = DisputeVerdict(True, CONVICTED_STEP, lo, f"step {lo} ({mode}): {excess}")


def run_dispute(bisection: Bisection, answer: Callable[[RevealRequest], Reveal | None]) -> DisputeVerdict:
    """Drive `bisection` to its verdict, asking `answer` (a transport, or a `Revealer` in-process)."""
    while (request := bisection.request()) is not None:
        try:
            reveal = answer(request)
        except (ValueError, LookupError, OSError):
            reveal = None
        bisection.feed(reveal)
    assert bisection.verdict is not None
    return bisection.verdict
