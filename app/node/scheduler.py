"""The node's work scheduler: training rounds, receipts, the verification queue, aggregation, audits.

`WorkScheduler` belongs to one `Node` (app/node/node.py). The round, fraud and miner desks decide what
to do; the scheduler hands the heavy part to the event loop's threads (fetch, verify, worker, audit;
see docs/PROTOCOL.md Part 6, "Threads"), or a miner's rounds to its training worker process
(`app.node.training`), and brings the outcome back to the loop. It also keeps a
miner's own receipts in gossip until their round closes, including those signed before a restart.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from app.core.errors import PotError
from app.core.state import ChainState
from app.core.types import FraudProof, WorkReceipt
from app.miner.loop import RoundJob
from app.node.auditor import AUDIT_TICK_S, AuditJob, AuditOutcome, audit_segment, backfill_heights
from app.node.fraud import receipt_view
from app.node.pacing import pending_deadline_s, retry_in_s
from app.node.rounds import AggKey
from app.node.work import UNAVAILABLE, Checked, Deferred, Gathered
from app.pot.aggregate import Aggregate
from app.pot.proof import TrainingTrace
from app.pot.verify import TaskView, Verdict

if TYPE_CHECKING:
    from app.node.node import Node

log = logging.getLogger("app.node.node")  # the node's log lines keep one logger name, whichever part writes them

RECEIPT_REPUBLISH_S = 5.0


class WorkScheduler:
    """Schedule one node's training work on its loop's threads; see the module docstring."""

    def __init__(self, node: Node) -> None:
        self.node = node
        # this key's receipts still in gossip: receipt id -> (receipt, when last published)
        self.published: dict[bytes, tuple[WorkReceipt, float]] = {}

    def resume_receipts(self) -> None:
        """Receipts this key signed before a restart: republish them (until their round closes) and
        do not train those rounds again; their traces are served from disk."""
        node = self.node
        for receipt in node.traces.receipts():
            if receipt.miner != node.key.public_key:
                continue
            self.published[receipt.receipt_id] = (receipt, float("-inf"))  # republished at the first tick
            if node.miner is not None:
                node.miner.mark_started(receipt.task_id, receipt.round)
            log.info(
                "resuming receipt for round %d of task %s (trace on disk)", receipt.round, receipt.task_id.hex()[:16]
            )

    # ------------------------------------------------------------------ training work

    def schedule_verify(self, receipt: WorkReceipt, view: TaskView) -> None:
        node = self.node

        def done(checked: Checked | None, error: BaseException | None) -> None:
            verdict = checked.verdict if checked is not None else None
            accepted = verdict is not None and verdict.accepted
            why = f"{verdict.reason}: {verdict.detail}" if verdict is not None else repr(error)
            log.info(
                "receipt of %s round %d: %s",
                receipt.miner.hex()[:12],
                receipt.round,
                "verified" if accepted else f"{'NOT CHECKED, will retry' if verdict is None else 'REJECTED'} ({why})",
            )
            if verdict is not None and verdict.reason == UNAVAILABLE:
                log.warning(
                    "miner %s withheld challenged data of receipt %s (segments %s)",
                    receipt.miner.hex()[:12],
                    receipt.receipt_id.hex()[:16],
                    list(checked.segments) if checked else [],
                )
            assert node.desk is not None
            node.desk.verified(receipt, verdict, node.chain.state, checked.segments if checked is not None else ())
            node.consensus.retry_deferred()

        first_try = time.monotonic()
        deadline_s = pending_deadline_s(view.spec)
        who = (receipt.miner.hex()[:12], receipt.round)

        def gather() -> None:
            node.loop.run_fetch(lambda: node.work.gather(receipt, view), gathered)

        def gathered(got: Gathered | Checked | Deferred | None, error: BaseException | None) -> None:
            if isinstance(got, Deferred):
                waited = time.monotonic() - first_try
                again = retry_in_s(waited, deadline_s, got.retry_after_s)
                task = node.chain.state.task(receipt.task_id)
                if task is None or task.round != receipt.round:  # closed meanwhile: nothing left to verify for
                    log.info("receipt of %s round %d: its round closed while the miner re-computed", *who)
                    assert node.desk is not None
                    node.desk.verified(receipt, None, node.chain.state)
                elif again is None:
                    why = (
                        f"still being prepared after {waited:.0f} s (the task allows {deadline_s:.0f} s): {got.detail}"
                    )
                    done(Checked(Verdict(False, UNAVAILABLE, why), got.segments), None)
                else:
                    (log.info if waited < again else log.debug)(
                        "receipt of %s round %d: the miner is re-computing challenged checkpoints %s; asking again "
                        "every %.0f s for up to %.0f s",
                        *who,
                        list(got.segments),
                        again,
                        deadline_s,
                    )
                    node.loop.call_later(again, gather)
            elif got is None or isinstance(got, Checked):
                done(got, error)
            else:  # everything is local now: re-execute on the verification thread
                node.loop.run_verify(lambda: node.work.replay(receipt, view, got), done)

        gather()

    def schedule_fraud_check(self, proof: FraudProof, view: TaskView) -> None:
        node = self.node

        def done(verdict: Verdict | None, error: BaseException | None) -> None:
            if verdict is None:
                verdict = Verdict(False, "unavailable", f"the re-execution failed: {error!r}")
            log.info(
                "fraud proof against receipt %s segment %d: %s (%s)",
                proof.receipt_id.hex()[:16],
                proof.segment,
                verdict.reason,
                verdict.detail,
            )
            assert node.fraud is not None
            node.fraud.checked(proof, verdict)
            node.consensus.retry_deferred()

        node.loop.run_in_worker(lambda: node.work.check_fraud(proof, view), done)

    def schedule_aggregate(self, key: AggKey, receipts: list[WorkReceipt], head: ChainState) -> None:
        node = self.node
        task = head.task(key[0])
        assert task is not None

        def done(agg: Aggregate | None, error: BaseException | None) -> None:
            if agg is None:
                log.error("aggregating round %d failed: %r", key[1], error)
            else:
                log.info(
                    "aggregated round %d over %d receipts: validation loss %.4f",
                    key[1],
                    len(receipts),
                    agg.validation_loss,
                )
            assert node.desk is not None
            node.desk.aggregated(key, agg.result if agg is not None else None)
            node.consensus.retry_deferred()

        node.loop.run_in_worker(lambda: node.work.aggregate(key[0], key[1], task.spec, task.checkpoint, receipts), done)

    def schedule_train(self, job: RoundJob) -> None:
        """Have the node's training worker process train `job` (`app.node.training`); the signed receipt
        comes back to `own_receipt`."""
        node = self.node
        assert node.trainer is not None, "only a miner node trains"
        node.trainer.schedule(job)

    def own_receipt(self, receipt: WorkReceipt, trace: TrainingTrace) -> None:
        """A round this node trained and signed: the trace on disk before the receipt goes out, then gossip."""
        node = self.node
        node.traces.add(trace, receipt)
        node.publish_own_receipt(receipt)

    def republish_receipts(self) -> None:
        """Gossip is best effort: repeat a receipt until its round closes (validators deduplicate)."""
        node = self.node
        state = node.chain.state
        now = time.monotonic()
        for rid, (receipt, at) in list(self.published.items()):
            task = state.task(receipt.task_id)
            if task is None or task.round != receipt.round:
                del self.published[rid]
                if state.pending_reward(rid) is None:  # the round closed without it: refused as late
                    node.late_receipts += 1
                    log.warning(
                        "round %d of task %s closed without this node's receipt: it came too late and is "
                        "not carried over (docs/PROTOCOL.md, round timing)",
                        receipt.round,
                        receipt.task_id.hex()[:16],
                    )
            elif now - at >= RECEIPT_REPUBLISH_S:
                self.published[rid] = (receipt, now)
                node.router.publish(receipt)

    # ------------------------------------------------------------------ auditing

    def audit_backfill(self) -> None:
        """After a restart, audit again the receipts of the blocks whose rewards may still vest."""
        node = self.node
        if node.auditor is None:
            return
        state = node.chain.state
        for height in backfill_heights(state):
            block = node.chain.store.block_by_height(height)
            if block is not None and block.body.receipts:
                node.auditor.on_block(block, state)

    def audit_tick(self) -> None:
        """Hand the next audit to the low-priority thread (rate-limited by the auditor; one at a time)."""
        node = self.node
        assert node.auditor is not None
        node.loop.call_later(AUDIT_TICK_S, self.audit_tick)
        job = node.auditor.next_job()
        if job is None:
            return
        state = node.chain.state
        try:
            view = receipt_view(node.chain.store.block_by_height, job.receipt, state)
        except PotError as exc:
            node.auditor.finished(job, AuditOutcome("inconclusive", str(exc)), state.height)
            return
        node.loop.run_low(
            lambda: audit_segment(node.work, job, view, node.key.address),
            lambda outcome, error: self.audited(job, outcome, error),
        )

    def audited(self, job: AuditJob, outcome: AuditOutcome | None, error: BaseException | None) -> None:
        node = self.node
        assert node.auditor is not None
        if outcome is None:
            outcome = AuditOutcome("inconclusive", repr(error))
        node.auditor.finished(job, outcome, node.chain.height)
        rid = job.receipt.receipt_id.hex()[:16]
        if outcome.proof is not None:
            log.warning(
                "audit: segment %d of receipt %s (miner %s, included at %d) is fraudulent (%s); "
                "publishing the fraud proof",
                job.segment,
                rid,
                job.receipt.miner.hex()[:12],
                job.included_at,
                outcome.detail,
            )
            node.router.publish(outcome.proof)
            node.router.on_fraud_proof(outcome.proof)
        elif outcome.kind == "withheld":
            log.warning(
                "audit: the miner %s of receipt %s did not serve segment %d: %s",
                job.receipt.miner.hex()[:12],
                rid,
                job.segment,
                outcome.detail,
            )
        else:
            log.info("audit: segment %d of receipt %s: %s %s", job.segment, rid, outcome.kind, outcome.detail)
