"""Round coordination table: when a round is ready, and what a member will vote for."""

from __future__ import annotations

import pytest

from app.core.crypto import SigningKey
from app.core.genesis import genesis_block
from app.core.hashing import ZERO_HASH
from app.core.types import NO_SIGNATURE, RoundResult, TaskPost, WorkReceipt
from app.miner.demo import task_spec
from app.miner.verify import Verdict
from app.node.rounds import RoundDesk, RoundNotChecked
from tests.node.chainkit import USER, genesis

OK = Verdict(True, "ok")
BAD = Verdict(False, "segment-mismatch", "segment 0")
MINERS = [SigningKey.from_seed(bytes([90 + i]) * 32) for i in range(2)]


@pytest.fixture(scope="module")
def head():  # type: ignore[no-untyped-def]
    _, state = genesis_block(genesis())
    spec = task_spec(local_steps=16, checkpoint_interval=8, batch_size=8, rounds=2)
    post = TaskPost(chain_id="pot-devnet", sender=USER.public_key, nonce=0, spec=spec, fee_per_round=10, fee=1,
                    signature=NO_SIGNATURE).signed_by(USER)
    return state.apply_tx(post, bytes(20)), post.tx_id


def receipt(head, task_id: bytes, miner: SigningKey, fill: int = 1) -> WorkReceipt:  # type: ignore[no-untyped-def]
    task = head.task(task_id)
    return WorkReceipt(chain_id="pot-devnet", task_id=task_id, round=0, miner=miner.public_key,
                       base_checkpoint=task.checkpoint, commitments_root=bytes([fill]) * 32,
                       update_hash=bytes([fill]) * 32, steps=16, final_loss_micro=1, device_class="cpu",
                       signature=NO_SIGNATURE).signed_by(miner)


def make_desk(wait: float = 60.0):  # type: ignore[no-untyped-def]
    asked: dict[str, list] = {"verify": [], "aggregate": []}
    desk = RoundDesk(lambda r, v: asked["verify"].append(r), lambda k, rs, h: asked["aggregate"].append(k), wait)
    return desk, asked


def test_a_round_waits_for_every_known_miner(head) -> None:  # type: ignore[no-untyped-def]
    state, task_id = head
    desk, asked = make_desk()
    a, b = receipt(state, task_id, MINERS[0]), receipt(state, task_id, MINERS[1], 2)
    assert desk.on_receipt(a, state) and desk.on_receipt(b, state)
    assert not desk.on_receipt(a, state)  # duplicate
    desk.verified(a, OK, state)
    assert len(asked["aggregate"]) == 1  # a alone covers every miner known so far
    desk.verified(b, OK, state)
    assert asked["aggregate"][-1][2] == tuple(sorted((a.receipt_id, b.receipt_id)))


def test_a_failed_receipt_is_never_aggregated_or_voted_for(head) -> None:  # type: ignore[no-untyped-def]
    state, task_id = head
    desk, asked = make_desk()
    bad = receipt(state, task_id, MINERS[0])
    desk.on_receipt(bad, state)
    desk.verified(bad, BAD, state)
    assert asked["aggregate"] == []
    result = RoundResult(task_id=task_id, round=0, new_checkpoint=ZERO_HASH, validation_loss_micro=1,
                         receipt_ids=(bad.receipt_id,))
    block = genesis_block(genesis())[0]
    block = block.replace(body=block.body.replace(receipts=(bad,), results=(result,)))
    with pytest.raises(RoundNotChecked):
        desk.check_block(block)


def test_a_proposed_aggregate_must_match_this_members_own(head) -> None:  # type: ignore[no-untyped-def]
    state, task_id = head
    desk, _ = make_desk()
    r = receipt(state, task_id, MINERS[0])
    desk.on_receipt(r, state)
    desk.verified(r, OK, state)
    key = (task_id, 0, (r.receipt_id,))
    mine = RoundResult(task_id=task_id, round=0, new_checkpoint=b"\x01" * 32, validation_loss_micro=500_000,
                       receipt_ids=(r.receipt_id,))
    desk.aggregated(key, mine)
    assert desk.ready(state) == ([mine], [r])
    block = genesis_block(genesis())[0]
    good = block.replace(body=block.body.replace(receipts=(r,), results=(mine,)))
    desk.check_block(good)
    forged = mine.replace(new_checkpoint=b"\x02" * 32)
    with pytest.raises(RoundNotChecked):
        desk.check_block(block.replace(body=block.body.replace(receipts=(r,), results=(forged,))))


def test_a_receipt_whose_check_crashed_is_checked_again_but_unavailable_data_is_a_rejection(head) -> None:  # type: ignore[no-untyped-def]
    state, task_id = head
    desk, asked = make_desk()
    a = receipt(state, task_id, MINERS[0])
    assert desk.on_receipt(a, state)
    desk.verified(a, None, state)  # this member's own check crashed: not the miner's fault
    assert not asked["aggregate"]
    assert desk.on_receipt(a, state)  # the miner's republication: scheduled again (the draw is fixed)
    assert asked["verify"] == [a, a]
    desk.verified(a, OK, state)
    assert len(asked["aggregate"]) == 1
    b = receipt(state, task_id, MINERS[1], 2)
    assert desk.on_receipt(b, state)
    desk.verified(b, BAD, state)  # a proven bad receipt stays refused
    assert not desk.on_receipt(b, state)
    c = receipt(state, task_id, SigningKey.from_seed(bytes([99]) * 32), 3)
    assert desk.on_receipt(c, state)
    desk.verified(c, Verdict(False, "unavailable", "checkpoint 3 not served"), state, (2,))
    assert not desk.on_receipt(c, state)  # withheld data is refused for good, never re-drawn
    assert desk.unavailable[c.receipt_id].segments == (2,)
    assert desk.unavailable[c.receipt_id].miner == c.miner


def test_a_peer_gets_one_pending_verification_per_round_whatever_keys_it_signs_with(head) -> None:  # type: ignore[no-untyped-def]
    state, task_id = head
    desk, asked = make_desk()
    fresh = [SigningKey.from_seed(bytes([120 + i]) * 32) for i in range(3)]
    first, second, third = (receipt(state, task_id, k, 10 + i) for i, k in enumerate(fresh))
    assert desk.on_receipt(first, state, "hostile")
    assert not desk.on_receipt(second, state, "hostile")  # the first one is still being verified
    assert desk.on_receipt(third, state, "honest")  # other peers are not held up by it
    desk.verified(first, Verdict(False, "unavailable", "trace stalled"), state)
    assert desk.on_receipt(second, state, "hostile")  # its republication is taken once the first is decided
    assert asked["verify"] == [first, third, second]
    assert desk.on_receipt(receipt(state, task_id, MINERS[0], 30), state)  # a proposal's receipts: no origin, no limit
