"""Round coordination table: when a round is ready, and what a member will vote for."""

from __future__ import annotations

from collections import deque

import pytest

from app.core.crypto import SigningKey
from app.core.genesis import genesis_block
from app.core.hashing import ZERO_HASH
from app.core.types import NO_SIGNATURE, RoundResult, TaskPost, WorkReceipt
from app.miner.demo import task_spec
from app.node.rounds import RoundDesk, RoundNotChecked
from app.pot.verify import Verdict
from tests.node.chainkit import USER, genesis

OK = Verdict(True, "ok")
BAD = Verdict(False, "segment-mismatch", "segment 0")
MINERS = [SigningKey.from_seed(bytes([90 + i]) * 32) for i in range(2)]


@pytest.fixture(scope="module")
def head():  # type: ignore[no-untyped-def]
    _, state = genesis_block(genesis())
    spec = task_spec(local_steps=16, checkpoint_interval=8, batch_size=8, rounds=2)
    post = TaskPost(
        chain_id="pot-devnet",
        sender=USER.public_key,
        nonce=0,
        spec=spec,
        fee_per_round=10,
        fee=1,
        signature=NO_SIGNATURE,
    ).signed_by(USER)
    return state.apply_tx(post, bytes(20)), post.tx_id


def receipt(head, task_id: bytes, miner: SigningKey, fill: int = 1) -> WorkReceipt:  # type: ignore[no-untyped-def]
    task = head.task(task_id)
    return WorkReceipt(
        chain_id="pot-devnet",
        task_id=task_id,
        round=0,
        miner=miner.public_key,
        base_checkpoint=task.checkpoint,
        commitments_root=bytes([fill]) * 32,
        update_hash=bytes([fill]) * 32,
        steps=16,
        final_loss_micro=1,
        device_class="cpu",
        signature=NO_SIGNATURE,
    ).signed_by(miner)


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
    result = RoundResult(
        task_id=task_id, round=0, new_checkpoint=ZERO_HASH, validation_loss_micro=1, receipt_ids=(bad.receipt_id,)
    )
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
    mine = RoundResult(
        task_id=task_id,
        round=0,
        new_checkpoint=b"\x01" * 32,
        validation_loss_micro=500_000,
        receipt_ids=(r.receipt_id,),
    )
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


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_round_stays_open_for_a_miner_of_the_median_measured_speed(head) -> None:  # type: ignore[no-untyped-def]
    """Fast miners no longer close the round on slower honest ones 5 s after the first receipt."""
    state, task_id = head
    clock = _Clock()
    asked: dict[str, list] = {"verify": [], "aggregate": []}
    desk = RoundDesk(
        lambda r, v: asked["verify"].append(r), lambda k, rs, h: asked["aggregate"].append(k), 5.0, clock=clock
    )
    desk.on_commit(state)  # the round is seen open now
    # measured in earlier rounds: receipts arrived 40, 60 and 90 s after their round opened
    desk._arrival_s[task_id] = deque([40.0, 60.0, 90.0])
    assert desk.window_s(state, task_id) == 1.5 * 60.0
    fast, slow = MINERS
    desk._miners[task_id] = {fast.public_key, slow.public_key}  # both known to work on the task
    a = receipt(state, task_id, fast)
    clock.now += 10.0  # a fast (or lazy) miner is done after 10 s
    assert desk.on_receipt(a, state, "fast-peer")
    desk.verified(a, OK, state)
    clock.now += 30.0  # 30 s after the first verified receipt: the old rule closed the round at 5 s
    desk.poll(state)
    assert asked["aggregate"] == []
    b = receipt(state, task_id, slow, 2)
    clock.now += 40.0  # the slower honest miner arrives 80 s in, inside the 90 s window
    assert desk.on_receipt(b, state, "slow-peer")
    desk.verified(b, OK, state)  # every known miner is in: ready at once
    assert asked["aggregate"][-1][2] == tuple(sorted((a.receipt_id, b.receipt_id)))
    assert len(desk._arrival_s[task_id]) == 3  # this round's arrivals count once it is over, not before


def test_without_a_third_miner_the_round_closes_once_its_window_has_passed(head) -> None:  # type: ignore[no-untyped-def]
    state, task_id = head
    clock = _Clock()
    asked: dict[str, list] = {"verify": [], "aggregate": []}
    desk = RoundDesk(lambda r, v: None, lambda k, rs, h: asked["aggregate"].append(k), 5.0, clock=clock)
    desk.on_commit(state)
    desk._arrival_s[task_id] = deque([20.0])
    desk._miners[task_id] = {MINERS[0].public_key, MINERS[1].public_key}
    a = receipt(state, task_id, MINERS[0])
    clock.now += 10.0
    assert desk.on_receipt(a, state)
    desk.verified(a, OK, state)
    clock.now += 19.0  # 29 s in: the window is 30 s
    desk.poll(state)
    assert asked["aggregate"] == []
    clock.now += 1.5
    desk.poll(state)
    assert len(asked["aggregate"]) == 1  # the missing miner does not hold the round forever


def test_the_window_before_any_measurement_comes_from_the_tasks_compute_and_has_bounds() -> None:
    from app.node.pacing import MAX_WINDOW_S, estimated_round_s, round_window_s

    small = task_spec(local_steps=16, checkpoint_interval=8, batch_size=8, rounds=2)
    big = task_spec(local_steps=1600, checkpoint_interval=8, batch_size=64, rounds=2)
    assert estimated_round_s(big) > 100 * estimated_round_s(small) > 0  # steps x batch x FLOPs per sample
    assert round_window_s(small, [], min_s=5.0) == 5.0  # a tiny task keeps the devnet's cadence
    assert round_window_s(big, [], min_s=0.0) == 1.5 * estimated_round_s(big)
    assert round_window_s(big, [1e9], min_s=5.0) == MAX_WINDOW_S
    assert round_window_s(small, [1.0, 2.0, 1000.0], min_s=0.1) == 3.0  # the median ignores one outlier


def test_a_receipt_for_a_closed_round_is_refused_as_late_and_counted() -> None:
    from tests.core.chainkit import Chain, key

    chain = Chain()
    post = chain.post_task(chain.users[0])
    chain.advance([post])
    chain.advance()
    on_time = chain.receipt(key("miner-a"), post.tx_id)
    late = chain.receipt(key("miner-b"), post.tx_id)  # trained for round 0 too, but slower
    chain.advance(results=[chain.result(post.tx_id, [on_time])], receipts=[on_time])
    assert chain.state.task(post.tx_id).round == 1
    desk, asked = make_desk()
    assert not desk.on_receipt(late, chain.state, "peer")
    assert not desk.on_receipt(late, chain.state, "peer")  # its republication: refused, counted once
    assert desk.late_refused == 1 and asked["verify"] == []
