"""Reward vesting and on-chain fraud proofs: pending rewards, claw-backs, bounties, and refused proofs."""

from __future__ import annotations

import pytest

from app.core.errors import InsufficientFunds, StorageError
from app.core.fraud import (
    DuplicateFraudProof,
    MalformedFraudProof,
    RewardVested,
    UnknownReceipt,
    check_fraud_proof_structure,
)
from app.core.merkle import merkle_proof
from app.core.rewards import REWARD_CLAWED, REWARD_PENDING, REWARD_VESTED, reward_key
from app.core.state import ChainState
from app.core.types import FraudProof, Reward, WorkReceipt
from app.core.validation import validate_block
from tests.core.chainkit import PARAMS, Chain, key, spec

W = PARAMS.reward_vesting_blocks
NEW = PARAMS.vesting_blocks(has_history=False)  # a key whose rewards never vested waits longer
MINER = key("miner0")
HONEST = key("miner1")
CHALLENGER = key("challenger").address


@pytest.fixture
def chain() -> Chain:
    return Chain()


def _paid_round(chain: Chain) -> tuple[bytes, list[WorkReceipt], dict[bytes, int]]:
    """Post a task, close its first round with MINER and HONEST; return the task, receipts, miner rewards."""
    post = chain.post_task(chain.users[0], fee_per_round=500, rounds=3)
    chain.advance([post])
    task_id = post.tx_id
    receipts = [chain.receipt(MINER, task_id), chain.receipt(HONEST, task_id)]
    built = chain.advance(results=[chain.result(task_id, receipts)], receipts=receipts)
    paid = {r.recipient: r.amount for r in built.block.body.rewards if r.kind == Reward.KIND_MINER}
    return task_id, receipts, paid


def test_devnet_has_a_challenge_window() -> None:
    assert W == 8 and PARAMS.fraud_bounty_bps == 5_000


def test_a_miner_reward_is_pending_until_its_window_ends_then_spendable(chain: Chain) -> None:
    _, receipts, paid = _paid_round(chain)
    paid_at = chain.state.height
    acct = chain.state.account(MINER.address)
    assert acct.balance == 0 and acct.pending == paid[MINER.address] > 0
    reward = chain.state.pending_reward(receipts[0].receipt_id)
    assert NEW > W
    assert reward is not None and reward.status == REWARD_PENDING and reward.unlock_height == paid_at + NEW
    assert set(chain.state.pending_rewards(MINER.address)) == {receipts[0].receipt_id}
    # Not spendable: a transfer of the pending amount is refused, and a block cannot include it.
    with pytest.raises(InsufficientFunds):
        chain.state.apply_tx(chain.transfer(MINER, CHALLENGER, 1, fee=0), bytes(20))
    chain.nonces.clear()
    while chain.state.height < paid_at + NEW - 1:
        chain.advance()
        assert chain.state.account(MINER.address).balance == 0
    chain.advance()  # block paid_at + NEW: the reward vests at its end
    acct = chain.state.account(MINER.address)
    assert (acct.balance, acct.pending) == (paid[MINER.address], 0)
    assert chain.state.pending_reward(receipts[0].receipt_id).status == REWARD_VESTED  # type: ignore[union-attr]
    built = chain.advance([chain.transfer(MINER, CHALLENGER, acct.balance - 1, fee=1)])
    assert len(built.block.body.transactions) == 1
    assert chain.state.account(CHALLENGER).balance == acct.balance - 1
    # Settled rewards are forgotten one window later.
    while chain.state.height < paid_at + NEW + W:
        chain.advance()
    assert chain.state.pending_reward(receipts[0].receipt_id) is None
    assert not any(k.startswith(b"r") and len(k) == 33 for k in chain.state.entries())


def test_validator_rewards_are_not_held(chain: Chain) -> None:
    before = {v.address: chain.state.account(v.address).balance for v in chain.validators}
    _paid_round(chain)
    assert all(chain.state.account(v.address).balance > before[v.address] for v in chain.validators)


def test_without_a_window_rewards_are_spendable_at_once() -> None:
    chain = Chain(params=PARAMS.replace(reward_vesting_blocks=0, new_key_vesting_blocks=0))
    _, receipts, paid = _paid_round(chain)
    acct = chain.state.account(MINER.address)
    assert (acct.balance, acct.pending) == (paid[MINER.address], 0)
    assert chain.state.pending_reward(receipts[0].receipt_id) is None


def test_a_fraud_proof_claws_back_the_reward_and_pays_the_bounty(chain: Chain) -> None:
    task_id, receipts, paid = _paid_round(chain)
    owner = chain.users[0].address
    owner_before = chain.state.account(owner).balance
    work_before = chain.state.account(MINER.address).work
    supply = chain.state.total_held()
    proof = chain.fraud_proof(receipts[0], 1, CHALLENGER)
    assert FraudProof.decode(proof.encode()) == proof
    built = chain.advance(fraud_proofs=[proof])
    assert built.block.body.fraud_proofs == (proof,) and not built.rejected
    amount = paid[MINER.address]
    reward = chain.state.pending_reward(receipts[0].receipt_id)
    assert reward is not None and reward.status == REWARD_CLAWED and 0 < reward.minted < amount
    bounty = amount * PARAMS.fraud_bounty_bps // 10_000
    refund = min(amount - reward.minted, amount - bounty)  # the fee part back to the owner
    acct = chain.state.account(MINER.address)
    assert (acct.balance, acct.pending, acct.vested) == (0, 0, 0)
    assert acct.work == work_before - reward.minted
    assert chain.state.account(CHALLENGER).balance == bounty
    assert chain.state.account(owner).balance == owner_before + refund
    unminted = amount - bounty - refund
    assert chain.state.total_held() == supply - unminted
    assert chain.state.total_held() == chain.genesis.supply + chain.state.meta.minted
    # The honest miner's reward is untouched and still vests.
    assert chain.state.account(HONEST.address).pending == paid[HONEST.address]
    while chain.state.height < chain.state.pending_reward(receipts[1].receipt_id).unlock_height:  # type: ignore[union-attr]
        chain.advance()
    assert chain.state.account(HONEST.address).balance == paid[HONEST.address]
    assert chain.state.account(MINER.address).balance == 0
    assert chain.state.task(task_id) is not None


def test_a_fraud_proof_in_the_last_block_of_the_window_still_counts(chain: Chain) -> None:
    _, receipts, _ = _paid_round(chain)
    unlock = chain.state.pending_reward(receipts[0].receipt_id).unlock_height  # type: ignore[union-attr]
    while chain.state.height < unlock - 1:
        chain.advance()
    built = chain.advance(fraud_proofs=[chain.fraud_proof(receipts[0], 0, CHALLENGER)])
    assert len(built.block.body.fraud_proofs) == 1
    assert chain.state.account(MINER.address).balance == 0


def _rejected(chain: Chain, proof: FraudProof) -> Exception:
    built = chain.build(fraud_proofs=[proof])
    assert built.block.body.fraud_proofs == ()
    [(item, error)] = built.rejected
    assert item == proof
    # A peer's block that includes it anyway is invalid with the same error.
    forced = built.block.replace(body=built.block.body.replace(fraud_proofs=(proof,)))
    with pytest.raises(type(error)):
        chain.state.apply_body(forced.header, forced.body)
    return error


def test_a_proof_against_an_unknown_receipt_is_refused(chain: Chain) -> None:
    task_id, receipts, _ = _paid_round(chain)
    stranger = chain.receipt(key("stranger"), task_id)  # valid, signed, never included
    assert isinstance(_rejected(chain, chain.fraud_proof(stranger, 0, CHALLENGER)), UnknownReceipt)
    foreign_task = receipts[0].replace(task_id=b"\x05" * 32).signed_by(MINER)
    proof = chain.fraud_proof(receipts[0], 0, CHALLENGER).replace(receipt=foreign_task)
    assert isinstance(_rejected(chain, proof), UnknownReceipt)
    # Re-signing the included receipt with a changed field makes another receipt id: unknown too.
    changed = receipts[0].replace(final_loss_micro=1).signed_by(MINER)
    assert isinstance(_rejected(chain, chain.fraud_proof(changed, 0, CHALLENGER)), UnknownReceipt)


def test_a_proof_after_vesting_is_refused(chain: Chain) -> None:
    _, receipts, _ = _paid_round(chain)
    unlock = chain.state.pending_reward(receipts[0].receipt_id).unlock_height  # type: ignore[union-attr]
    while chain.state.height < unlock:
        chain.advance()
    assert isinstance(_rejected(chain, chain.fraud_proof(receipts[0], 0, CHALLENGER)), RewardVested)
    while chain.state.height < unlock + W:
        chain.advance()
    # Long after, the chain has forgotten the receipt.
    assert isinstance(_rejected(chain, chain.fraud_proof(receipts[0], 0, CHALLENGER)), UnknownReceipt)


def test_a_second_proof_of_one_receipt_is_refused(chain: Chain) -> None:
    _, receipts, _ = _paid_round(chain)
    first, second = (
        chain.fraud_proof(receipts[0], 0, CHALLENGER),
        chain.fraud_proof(receipts[0], 1, key("late").address),
    )
    built = chain.build(fraud_proofs=[first, second])
    assert built.block.body.fraud_proofs == (first,)
    assert [type(e) for _, e in built.rejected] == [DuplicateFraudProof]
    chain.finalise(built)
    assert isinstance(_rejected(chain, second), DuplicateFraudProof)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.replace(segment=2),  # the round has segments 0 and 1
        lambda p: p.replace(segment=0),  # openings of leaves 1, 2 named as segment 0
        lambda p: p.replace(end_checkpoint=b"\x01" * 32),
        lambda p: p.replace(start_proof=p.start_proof.replace(leaf_count=4)),
        lambda p: p.replace(end_proof=p.start_proof),
    ],
    ids=["segment-out-of-range", "wrong-segment", "end-not-committed", "wrong-leaf-count", "swapped-opening"],
)
def test_a_malformed_proof_is_refused(chain: Chain, change) -> None:  # type: ignore[no-untyped-def]
    _, receipts, _ = _paid_round(chain)
    proof = change(chain.fraud_proof(receipts[0], 1, CHALLENGER))
    assert isinstance(_rejected(chain, proof), MalformedFraudProof)


def test_structure_check_is_pure_and_names_the_problem(chain: Chain) -> None:
    _, receipts, _ = _paid_round(chain)
    proof = chain.fraud_proof(receipts[0], 1, CHALLENGER)
    check_fraud_proof_structure(proof, PARAMS.chain_id, spec(rounds=3))
    with pytest.raises(MalformedFraudProof, match="chain"):
        check_fraud_proof_structure(proof, "elsewhere", spec(rounds=3))
    with pytest.raises(MalformedFraudProof, match="whole segments"):
        check_fraud_proof_structure(proof, PARAMS.chain_id, spec(local_steps=12))
    with pytest.raises(MalformedFraudProof, match="segment 1 of a round of 1"):
        check_fraud_proof_structure(proof, PARAMS.chain_id, spec(local_steps=5))
    trace = [proof.start_checkpoint] * 3
    forged = proof.replace(start_proof=merkle_proof(trace, 1))
    with pytest.raises(MalformedFraudProof, match="start opening does not prove"):
        check_fraud_proof_structure(forged, PARAMS.chain_id, spec(rounds=3))


def test_a_block_that_includes_a_fraud_proof_validates_and_roots_it(chain: Chain) -> None:
    _, receipts, _ = _paid_round(chain)
    built = chain.build(fraud_proofs=[chain.fraud_proof(receipts[0], 0, CHALLENGER)])
    block = built.block.replace(qc=chain.qc(built.block))
    assert validate_block(chain.state, block).state_root == built.state.state_root
    from app.core.validation import WrongBodyRoot

    tampered = block.replace(body=block.body.replace(fraud_proofs=()))
    with pytest.raises(WrongBodyRoot, match="fraud_proofs_root"):
        validate_block(chain.state, tampered)


def test_pending_rewards_round_trip_through_entries_and_show_in_account_proofs(chain: Chain) -> None:
    _, receipts, paid = _paid_round(chain)
    chain.advance(fraud_proofs=[chain.fraud_proof(receipts[1], 0, CHALLENGER)])
    entries = chain.state.entries()
    assert reward_key(receipts[0].receipt_id) in entries and reward_key(receipts[1].receipt_id) in entries
    loaded = ChainState.from_entries(PARAMS, entries)
    assert loaded.entries() == entries and loaded.state_root == chain.state.state_root
    assert loaded.pending_rewards() == chain.state.pending_rewards()
    assert loaded.pending_reward(receipts[1].receipt_id).status == REWARD_CLAWED  # type: ignore[union-attr]
    nxt = chain.build(fraud_proofs=[chain.fraud_proof(receipts[1], 1, CHALLENGER)])
    assert [type(e) for _, e in nxt.rejected] == [DuplicateFraudProof]
    proven = chain.state.prove_account(MINER.address).verify(chain.state.state_root)
    assert (proven.balance, proven.pending) == (0, paid[MINER.address])
    # The account's pending must match its rewards.
    bad = dict(entries)
    key_ = b"a" + MINER.address
    from app.core.accounts import Account

    bad[key_] = Account.decode(entries[key_]).replace(pending=1).encode()
    with pytest.raises(StorageError, match="pending"):
        ChainState.from_entries(PARAMS, bad)


def test_a_fraud_proof_takes_every_pending_reward_of_the_miner_and_its_history() -> None:
    """The stake of a volunteer is its pending rewards: one proven fraud costs all of them."""
    chain = Chain()
    post = chain.post_task(chain.users[0], fee_per_round=500, rounds=3)
    chain.advance([post])
    task_id = post.tx_id
    first = [chain.receipt(MINER, task_id), chain.receipt(HONEST, task_id)]
    chain.advance(results=[chain.result(task_id, first)], receipts=first)
    second = [chain.receipt(MINER, task_id), chain.receipt(HONEST, task_id)]
    chain.advance(results=[chain.result(task_id, second)], receipts=second)
    held = chain.state.pending_rewards(MINER.address)
    assert len(held) == 2
    total = chain.state.account(MINER.address).pending
    assert total == sum(r.amount for r in held.values())
    chain.advance(fraud_proofs=[chain.fraud_proof(first[0], 1, CHALLENGER)])
    assert chain.state.account(MINER.address).pending == 0
    assert all(chain.state.pending_reward(rid).status == REWARD_CLAWED for rid in held)  # type: ignore[union-attr]
    assert len(chain.state.pending_rewards(HONEST.address)) == 2  # the honest miner keeps its own
    assert chain.state.total_held() == chain.genesis.supply + chain.state.meta.minted
    # a second proof against the other clawed receipt is told so
    assert isinstance(_rejected(chain, chain.fraud_proof(second[0], 1, CHALLENGER)), DuplicateFraudProof)


def test_a_key_with_history_vests_over_the_normal_window() -> None:
    chain = Chain(params=PARAMS.replace(task_expiry_blocks=100))
    _, receipts, _ = _paid_round(chain)
    unlock = chain.state.pending_reward(receipts[0].receipt_id).unlock_height  # type: ignore[union-attr]
    while chain.state.height < unlock:
        chain.advance()
    assert chain.state.account(MINER.address).vested > 0
    task_id = receipts[0].task_id
    again = [chain.receipt(MINER, task_id)]
    chain.advance(results=[chain.result(task_id, again)], receipts=again)
    reward = chain.state.pending_reward(again[0].receipt_id)
    assert reward is not None and reward.unlock_height == chain.state.height + W
