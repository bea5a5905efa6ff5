"""The auditor's bookkeeping on a real chain: which vesting receipt segment it re-executes next, and when."""

from __future__ import annotations

import random

import pytest

from app.core.rewards import REWARD_PENDING
from app.core.types import FraudProof
from app.node.auditor import (
    CORRECT,
    FRAUD,
    INCONCLUSIVE,
    WITHHELD,
    AuditConfig,
    Auditor,
    AuditOutcome,
    backfill_heights,
)
from tests.core.chainkit import PARAMS, Chain, key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _paid_chain() -> tuple[Chain, list]:  # type: ignore[type-arg]
    chain = Chain()
    post = chain.post_task(chain.users[0])
    chain.advance([post])
    chain.advance()
    receipts = [chain.receipt(key(f"miner{i}"), post.tx_id) for i in range(2)]
    chain.advance(results=[chain.result(post.tx_id, receipts)], receipts=receipts)
    return chain, receipts


def test_the_auditor_covers_every_segment_once_at_its_rate_and_only_while_rewards_vest() -> None:
    chain, receipts = _paid_chain()
    clock = Clock()
    auditor = Auditor(AuditConfig(segments_per_minute=60), rng=random.Random(1), clock=clock)
    auditor.on_block(chain.blocks[-1], chain.state)
    assert len(auditor) == 2
    n = (
        chain.state.task(receipts[0].task_id).spec.local_steps
        // chain.state.task(receipts[0].task_id).spec.checkpoint_interval
    )
    seen = set()
    for _i in range(2 * n):
        assert auditor.next_job(may_run=False) is None  # the mining policy says no: nothing runs
        job = auditor.next_job()
        assert job is not None and auditor.next_job() is None  # one at a time
        seen.add((job.receipt.receipt_id, job.segment))
        auditor.finished(job, AuditOutcome(CORRECT), chain.state.height)
        assert auditor.next_job() is None  # the rate limit: 60 a minute is one a second
        clock.now += 1.0
    assert len(seen) == 2 * n  # every segment of both receipts, none twice
    assert auditor.next_job() is None and auditor.stats.segments == 2 * n

    # a crash of this node's own check is not counted and the segment stays to audit
    auditor2 = Auditor(AuditConfig(segments_per_minute=60), rng=random.Random(2), clock=clock)
    auditor2.on_block(chain.blocks[-1], chain.state)
    job = auditor2.next_job()
    assert job is not None
    auditor2.finished(job, AuditOutcome(INCONCLUSIVE, "no view"), chain.state.height)
    assert auditor2.stats.segments == 0
    # a withheld checkpoint is recorded against the miner
    clock.now += 1.0
    job = auditor2.next_job()
    assert job is not None
    auditor2.finished(job, AuditOutcome(WITHHELD, "not served"), chain.state.height)
    assert [w.miner for w in auditor2.withheld] == [job.receipt.miner]
    # one proven fraud ends the audit of that receipt
    clock.now += 1.0
    job = auditor2.next_job()
    assert job is not None
    proof = chain.fraud_proof(job.receipt, job.segment, key("challenger").address)
    auditor2.finished(job, AuditOutcome(FRAUD, "mismatch", proof), chain.state.height)
    assert auditor2.proofs == [proof] and isinstance(proof, FraudProof)
    assert job.receipt.receipt_id not in {t.receipt.receipt_id for t in auditor2._targets.values()}

    # once the rewards vest, nothing is left to audit
    while chain.state.height < chain.state.pending_reward(receipts[0].receipt_id).unlock_height:
        chain.advance()
    auditor2.on_commit(chain.state)
    assert len(auditor2) == 0
    late = Auditor(AuditConfig(), clock=clock)
    paying = next(b for b in chain.blocks if b.body.receipts)
    late.on_block(paying, chain.state)  # the receipts of a block whose rewards vested are not tracked
    assert len(late) == 0


def test_audit_config_refuses_a_rate_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="segments_per_minute"):
        AuditConfig(segments_per_minute=0)


def test_a_restarted_auditor_still_reaches_a_new_keys_receipts_after_the_usual_vesting() -> None:
    """A fresh key vests longest; the backfill after a restart used the usual vesting and dropped its receipts."""
    chain = Chain(params=PARAMS.replace(reward_vesting_blocks=2, new_key_vesting_blocks=8))
    post = chain.post_task(chain.users[0])
    chain.advance([post])
    chain.advance()
    receipts = [chain.receipt(key("fresh-miner"), post.tx_id)]
    chain.advance(results=[chain.result(post.tx_id, receipts)], receipts=receipts)
    paid_at = chain.state.height
    for _ in range(4):  # past the usual vesting, inside a new key's
        chain.advance()
    assert chain.state.pending_reward(receipts[0].receipt_id).status == REWARD_PENDING
    heights = backfill_heights(chain.state)
    assert paid_at in heights and chain.state.height in heights
    auditor = Auditor(AuditConfig(segments_per_minute=60), rng=random.Random(1))
    for height in heights:
        auditor.on_block(chain.blocks[height], chain.state)
    assert len(auditor) == 1  # the restart audits it again
