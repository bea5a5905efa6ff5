"""Round coordination on a validator: which receipts are verified, when a round is ready, its aggregate.

Pure bookkeeping on the node thread; the heavy work (verify, aggregate) is requested through the
`schedule` callback and its answers come back through `verified` and `aggregated`. A round of a task
is ready when verified receipts cover every miner known to work on the task, or, with at least one
verified receipt, once its window has passed: long enough for a miner of the median measured speed
(`app.node.pacing`), and `round_wait_s` past its first verified receipt. A receipt for a round that
already closed is refused as late (counted and logged, never carried into the next round). Every member then aggregates the same verified
set, so the leader's RoundResult can be re-checked by hash (same inputs give the same checkpoint).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.errors import InvalidBlock
from app.core.patience import LOSS_TOLERANCE_MICRO  # the patience rule's margin floor is sized by it
from app.core.state import ChainState
from app.core.tasks import TASK_OPEN
from app.core.types import Block, RoundResult, WorkReceipt
from app.node.pacing import SAMPLES_KEPT, ready_at, round_window_s
from app.pot.verify import TaskView, Verdict

log = logging.getLogger(__name__)

ROUND_WAIT_S = 5.0


class RoundNotChecked(InvalidBlock):
    """A block with receipts or a result this member has not (yet) verified or re-aggregated."""


@dataclass
class _Round:
    opened_at: float = field(default_factory=time.monotonic)
    first_verified_at: float | None = None
    receipts: dict[bytes, WorkReceipt] = field(default_factory=dict)  # receipt id -> receipt
    origins: dict[bytes, str] = field(default_factory=dict)  # receipt id -> the peer that published it
    arrivals: dict[bytes, float] = field(default_factory=dict)  # receipt id -> when it first came (monotonic)


AggKey = tuple[bytes, int, tuple[bytes, ...]]  # (task id, round, sorted receipt ids)

UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Unavailable:
    """A miner did not serve what this member challenged in its receipt: the receipt is refused for good.

    The record of it (the state machine's punishment of withheld data builds on it; docs/PROTOCOL.md).
    `segments`: this member's fixed draw, which anyone holding its challenge ticket can recompute.
    """

    receipt_id: bytes
    miner: bytes
    task_id: bytes
    round: int
    segments: tuple[int, ...]
    detail: str


class RoundDesk:
    """Receipts, verdicts and aggregates of the open rounds, as seen by one committee member."""

    def __init__(
        self,
        schedule_verify: Callable[[WorkReceipt, TaskView], None],
        schedule_aggregate: Callable[[AggKey, list[WorkReceipt], ChainState], None],
        round_wait_s: float = ROUND_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._schedule_verify = schedule_verify
        self._schedule_aggregate = schedule_aggregate
        self.round_wait_s = round_wait_s
        self.verdicts: dict[bytes, bool | None] = {}  # receipt id -> True/False, None while pending
        self.results: dict[AggKey, RoundResult | None] = {}  # None while pending
        self._rounds: dict[tuple[bytes, int], _Round] = {}
        self._miners: dict[bytes, set[bytes]] = {}  # task id -> miner keys seen with verified work
        self.unavailable: dict[bytes, Unavailable] = {}  # receipt id -> what its miner withheld (open rounds)
        self._opened: dict[tuple[bytes, int], float] = {}  # (task, round) -> when this member saw it open
        self._arrival_s: dict[bytes, deque[float]] = {}  # task id -> seconds from opening to verified receipts
        self._late: set[bytes] = set()  # receipt ids refused as late (logged once each)
        self.late_refused = 0

    # ------------------------------------------------------------------ inputs

    def on_receipt(self, receipt: WorkReceipt, head: ChainState, origin: str | None = None) -> bool:
        """Take a gossiped receipt for an open round; schedule its verification. False if not useful now.

        Work a peer can cause is bounded: one receipt per miner key per round, and at most one pending
        verification per publishing peer (`origin`) per round, so a peer signing receipts with fresh
        keys gets one looked at, not a queue of them (the next is taken when it is republished after
        this one's verdict). Receipts of a proposed block come with no origin and are never refused here.
        """
        task = head.task(receipt.task_id)
        if task is not None and receipt.round < task.round and receipt.receipt_id not in self._late:
            # The stated rule for late receipts (docs/PROTOCOL.md): a receipt for a round that closed is
            # refused, never carried into the next round (it was trained from the old checkpoint).
            self._late.add(receipt.receipt_id)
            self.late_refused += 1
            log.info(
                "late receipt of %s refused: round %d of task %s closed (the open round is %d)",
                receipt.miner.hex()[:12],
                receipt.round,
                receipt.task_id.hex()[:16],
                task.round,
            )
        if task is None or task.status != TASK_OPEN or receipt.round != task.round:
            return False
        if receipt.base_checkpoint != task.checkpoint:
            return False
        rid = receipt.receipt_id
        if rid in self.verdicts:
            return False
        key = (receipt.task_id, receipt.round)
        rnd = self._rounds.get(key)
        if rnd is None:
            rnd = self._rounds[key] = _Round(opened_at=self._opened.setdefault(key, self._clock()))
        if any(r.miner == receipt.miner for r in rnd.receipts.values()):
            return False  # one receipt per miner per round; the first one counts
        if origin is not None and any(o == origin and self.verdicts.get(r) is None for r, o in rnd.origins.items()):
            return False  # this peer already has a verification pending in this round
        rnd.receipts[rid] = receipt
        rnd.arrivals[rid] = self._clock()
        if origin is not None:
            rnd.origins[rid] = origin
        self.verdicts[rid] = None
        view = TaskView(
            spec=task.spec,
            current_round=task.round,
            current_checkpoint=task.checkpoint,
            anchor_block_hash=head.round_anchor(receipt.task_id),
        )
        self._schedule_verify(receipt, view)
        return True

    def verified(
        self, receipt: WorkReceipt, verdict: Verdict | None, head: ChainState, segments: tuple[int, ...] = ()
    ) -> None:
        """The verdict on `receipt` (None: this member's own check crashed, not the miner's fault).

        A crashed check is forgotten, so the miner's next republication is checked again: the draw is
        fixed per (member, receipt), so checking again cannot re-roll it. `unavailable` (a challenged
        trace or blob not served in time) is a rejection like any other, and recorded.
        """
        if verdict is None:
            rnd = self._rounds.get((receipt.task_id, receipt.round))
            if rnd is not None:
                rnd.receipts.pop(receipt.receipt_id, None)
                rnd.origins.pop(receipt.receipt_id, None)
            self.verdicts.pop(receipt.receipt_id, None)
            self.poll(head)
            return
        accepted = verdict.accepted
        self.verdicts[receipt.receipt_id] = accepted
        if verdict.reason == UNAVAILABLE:
            self.unavailable[receipt.receipt_id] = Unavailable(
                receipt.receipt_id, receipt.miner, receipt.task_id, receipt.round, tuple(segments), verdict.detail
            )
        if accepted:
            self._miners.setdefault(receipt.task_id, set()).add(receipt.miner)
            rnd = self._rounds.get((receipt.task_id, receipt.round))
            if rnd is not None and rnd.first_verified_at is None:
                rnd.first_verified_at = self._clock()
        self.poll(head)

    def aggregated(self, key: AggKey, result: RoundResult | None) -> None:
        self.results[key] = result

    def on_commit(self, head: ChainState) -> None:
        """Note rounds that opened (their window counts from here); forget those the chain moved past."""
        now = self._clock()
        for task_id, task in head.tasks().items():
            if task.status == TASK_OPEN:
                self._opened.setdefault((task_id, task.round), now)
        for key in [k for k in self._opened if self._stale(k, head)]:
            del self._opened[key]
        if len(self._late) > 4096:
            self._late.clear()
        for key in [k for k in self._rounds if self._stale(k, head)]:
            rnd = self._rounds.pop(key)
            # measured speeds count once their round is over: fast miners cannot shorten an open round
            samples = self._arrival_s.setdefault(key[0], deque(maxlen=SAMPLES_KEPT))
            samples.extend(
                rnd.arrivals[r.receipt_id] - rnd.opened_at for r in self._good(rnd) if r.receipt_id in rnd.arrivals
            )
            for rid in rnd.receipts:
                self.verdicts.pop(rid, None)
                self.unavailable.pop(rid, None)
        for key in [k for k in self.results if self._stale(k[:2], head)]:
            self.results.pop(key)
        for task_id in [t for t in self._arrival_s if (task := head.task(t)) is None or task.status != TASK_OPEN]:
            del self._arrival_s[task_id]
        self.poll(head)

    @staticmethod
    def _stale(key: tuple[bytes, int], head: ChainState) -> bool:
        task = head.task(key[0])
        return task is None or task.status != TASK_OPEN or task.round != key[1]

    def poll(self, head: ChainState) -> None:
        """Start aggregating every round that became ready (called on events and on a timer)."""
        now = self._clock()
        for (task_id, round_no), rnd in self._rounds.items():
            good = self._good(rnd)
            if not good or self._stale((task_id, round_no), head):
                continue
            known = self._miners.get(task_id, set())
            everyone = {r.miner for r in good} >= known
            waited = rnd.first_verified_at is not None and now >= ready_at(
                rnd.opened_at, rnd.first_verified_at, self.window_s(head, task_id), self.round_wait_s
            )
            if everyone or waited:
                self.request(task_id, round_no, good, head)

    def window_s(self, head: ChainState, task_id: bytes) -> float:
        """How long this task's open round stays open for miners still missing (`app.node.pacing`)."""
        task = head.task(task_id)
        assert task is not None
        return round_window_s(task.spec, list(self._arrival_s.get(task_id, ())), self.round_wait_s)

    def request(self, task_id: bytes, round_no: int, receipts: list[WorkReceipt], head: ChainState) -> AggKey:
        key: AggKey = (task_id, round_no, tuple(sorted(r.receipt_id for r in receipts)))
        if key not in self.results:
            self.results[key] = None
            self._schedule_aggregate(key, receipts, head)
        return key

    def _good(self, rnd: _Round) -> list[WorkReceipt]:
        return [r for rid, r in rnd.receipts.items() if self.verdicts.get(rid) is True]

    # ------------------------------------------------------------------ blocks

    def ready(self, head: ChainState) -> tuple[list[RoundResult], list[WorkReceipt]]:
        """Results (with their receipts) this member can propose now: the largest finished aggregate per task."""
        best: dict[bytes, tuple[RoundResult, list[WorkReceipt]]] = {}
        for (task_id, round_no, rids), result in self.results.items():
            if result is None or self._stale((task_id, round_no), head):
                continue
            rnd = self._rounds.get((task_id, round_no))
            if rnd is None or not all(rid in rnd.receipts for rid in rids):
                continue
            if task_id not in best or len(rids) > len(best[task_id][0].receipt_ids):
                best[task_id] = (result, [rnd.receipts[rid] for rid in rids])
        results = [r for r, _ in best.values()]
        receipts = [x for _, group in best.values() for x in group]
        return results, receipts

    def missing_work(self, block: Block, head: ChainState) -> bool:
        """True if checking `block` needs work not done yet (and schedule it); False once all is known."""
        pending = False
        for receipt in block.body.receipts:
            rid = receipt.receipt_id
            if rid not in self.verdicts:
                if not self.on_receipt(receipt, head):
                    continue  # the state check in validation will reject it
            if self.verdicts.get(rid) is None:
                pending = True
        if pending:
            return True
        for result in block.body.results:
            group = [r for r in block.body.receipts if r.task_id == result.task_id]
            if not all(self.verdicts.get(r.receipt_id) for r in group):
                continue  # check_block rejects it
            key = self.request(result.task_id, result.round, group, head)
            if self.results.get(key) is None:
                pending = True
        return pending

    def check_block(self, block: Block) -> None:
        """Raise unless every receipt in `block` passed this member's own verification and every
        result equals this member's aggregate of the same receipts."""
        for receipt in block.body.receipts:
            verdict = self.verdicts.get(receipt.receipt_id)
            if verdict is not True:
                why = "failed" if verdict is False else "was not"
                raise RoundNotChecked(f"receipt {receipt.receipt_id.hex()[:16]} {why} verified here")
        for result in block.body.results:
            key = (result.task_id, result.round, tuple(sorted(result.receipt_ids)))
            mine = self.results.get(key)
            if mine is None:
                raise RoundNotChecked(f"round {result.round} of {result.task_id.hex()[:16]} not aggregated here")
            if mine.new_checkpoint != result.new_checkpoint:
                raise RoundNotChecked("the proposed aggregate differs from this member's (another checkpoint hash)")
            if abs(mine.validation_loss_micro - result.validation_loss_micro) > LOSS_TOLERANCE_MICRO:
                raise RoundNotChecked("the proposed validation loss differs from this member's evaluation")
