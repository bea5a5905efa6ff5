"""The patience rule's other defence: committee members re-evaluate the proposed validation loss."""

from __future__ import annotations

import pytest

from app.core.genesis import genesis_block
from app.core.patience import LOSS_TOLERANCE_MICRO, MIN_IMPROVEMENT_FLOOR_MICRO as MARGIN
from app.core.types import NO_SIGNATURE, RoundResult, TaskPost, WorkReceipt
from app.miner.demo import task_spec
from app.node.rounds import RoundDesk, RoundNotChecked
from app.pot.verify import Verdict
from tests.core.chainkit import key
from tests.node.chainkit import USER, genesis


def test_committee_members_refuse_a_proposed_loss_beyond_the_tolerance() -> None:
    """The other half of the defence: a leader's loss further than the tolerance from a member's own
    evaluation (a fake improvement, or a fake plateau to finish a task early) is not voted for."""

    genesis_, state = genesis_block(genesis())
    post = TaskPost(
        chain_id="pot-devnet",
        sender=USER.public_key,
        nonce=0,
        spec=task_spec(
            local_steps=16,
            checkpoint_interval=8,
            batch_size=8,
            rounds=4,
            patience_rounds=2,
            min_improvement_micro=MARGIN,
        ),
        fee_per_round=10,
        fee=1,
        signature=NO_SIGNATURE,
    ).signed_by(USER)
    state = state.apply_tx(post, bytes(20))
    task = state.task(post.tx_id)
    miner = key("miner0")
    r = WorkReceipt(
        chain_id="pot-devnet",
        task_id=post.tx_id,
        round=0,
        miner=miner.public_key,
        base_checkpoint=task.checkpoint,
        commitments_root=b"\x01" * 32,
        update_hash=b"\x01" * 32,
        steps=16,
        final_loss_micro=1,
        device_class="cpu",
        signature=NO_SIGNATURE,
    ).signed_by(miner)
    desk = RoundDesk(lambda *_: None, lambda *_: None, 60.0)
    desk.on_receipt(r, state)
    desk.verified(r, Verdict(True, "ok"), state)
    mine = RoundResult(
        task_id=post.tx_id,
        round=0,
        new_checkpoint=b"\x01" * 32,
        validation_loss_micro=500_000,
        receipt_ids=(r.receipt_id,),
    )
    desk.aggregated((post.tx_id, 0, (r.receipt_id,)), mine)

    def proposed(loss: int):  # type: ignore[no-untyped-def]
        return genesis_.replace(
            body=genesis_.body.replace(receipts=(r,), results=(mine.replace(validation_loss_micro=loss),))
        )

    for loss in (500_000 - LOSS_TOLERANCE_MICRO, 500_000 + LOSS_TOLERANCE_MICRO):
        desk.check_block(proposed(loss))  # float noise across machines is accepted
    for loss in (500_000 - LOSS_TOLERANCE_MICRO - 1, 500_000 + LOSS_TOLERANCE_MICRO + 1, 400_000):
        with pytest.raises(RoundNotChecked, match="validation loss"):
            desk.check_block(proposed(loss))
