"""The state machine: transactions, rounds and rewards, slashing, expiry, elections, entries, proofs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.core import admission, crypto
from app.core.accounts import (
    ACCOUNT_PREFIX,
    EMPTY_ACCOUNT,
    Account,
    AccountProof,
    BondLocked,
    UnknownAccount,
    verify_account_proof,
)
from app.core.consensus import leader_for
from app.core.errors import (
    BadNonce,
    InsufficientFunds,
    InvalidProof,
    InvalidReceipt,
    InvalidSignature,
    InvalidTransaction,
    StorageError,
    UnknownTask,
    WrongChain,
)
from app.core.hashing import ZERO_HASH
from app.core.rewards import ClosedRound, WrongRewards, compute_rewards
from app.core.state import HEAD_KEY, META_KEY, NEXT_COMMITTEE_KEY, SLASHED_KEY, ChainState
from app.core.tasks import TASK_EXPIRED, TASK_FINISHED, TASK_OPEN, InvalidRoundResult
from app.core.types import Committee, Evidence, ProposalEvidence, Reward, proposal_signing_bytes
from app.core.validation import validate_block
from app.core.validators import InvalidEvidence, SlashedOffences, elect_committee
from tests.core.chainkit import BALANCE, PARAMS, Chain, key

PROPOSER = bytes(range(20))


@pytest.fixture
def chain() -> Chain:
    return Chain()


# --------------------------------------------------------------------------- transactions


def test_transfer_moves_amount_pays_fee_to_proposer_and_leaves_input_untouched(chain: Chain) -> None:
    alice, bob = chain.users[0], chain.users[1]
    before = chain.state
    after = before.apply_tx(chain.transfer(alice, bob.address, 700, fee=3), PROPOSER)
    assert after.account(alice.address) == replace(
        before.account(alice.address), balance=BALANCE - 703, nonce=1, public_key=alice.public_key
    )
    assert after.account(bob.address).balance == BALANCE + 700
    assert after.account(PROPOSER).balance == 3
    assert before.account(alice.address).balance == BALANCE
    assert after.total_held() == before.total_held()


def test_transfer_of_the_whole_balance_is_allowed(chain: Chain) -> None:
    alice = chain.users[0]
    after = chain.state.apply_tx(chain.transfer(alice, PROPOSER, BALANCE - 1, fee=1), PROPOSER)
    assert after.account(alice.address).balance == 0


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda c: c.transfer(c.users[0], PROPOSER, BALANCE, fee=1), InsufficientFunds),
        (lambda c: c.transfer(c.users[0], PROPOSER, 1, nonce=1), BadNonce),
        (lambda c: c.transfer(c.users[0], PROPOSER, 1).replace(amount=2), InvalidSignature),
        (lambda c: c.transfer(key("stranger"), PROPOSER, 1), InsufficientFunds),
        (lambda c: c.transfer(c.users[0], PROPOSER, 1).replace(chain_id="other"), WrongChain),
        (lambda c: c.post_task(c.users[0], fee_per_round=BALANCE, rounds=2), InsufficientFunds),
        (lambda c: c.bond(c.users[0], 0), InvalidTransaction),
        (lambda c: c.bond(c.users[0], BALANCE), InsufficientFunds),
        (lambda c: c.unbond(c.users[0], 1), InsufficientFunds),
        (lambda c: c.unbond(c.users[0], 0), InvalidTransaction),
        (lambda c: c.unbond(c.validators[0], 1), BondLocked),
    ],
    ids=[
        "overspend",
        "nonce-gap",
        "bad-signature",
        "empty-account",
        "foreign-chain",
        "escrow-overspend",
        "zero-bond",
        "bond-overspend",
        "unbond-without-bond",
        "zero-unbond",
        "committee-member-unbond",
    ],
)
def test_invalid_transactions_are_rejected_with_their_specific_error(chain: Chain, make, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        chain.state.apply_tx(make(chain), PROPOSER)


def test_a_replayed_transaction_has_a_stale_nonce(chain: Chain) -> None:
    tx = chain.transfer(chain.users[0], PROPOSER, 5)
    after = chain.state.apply_tx(tx, PROPOSER)
    with pytest.raises(BadNonce):
        after.apply_tx(tx, PROPOSER)


def test_task_post_escrows_every_round_under_its_tx_id(chain: Chain) -> None:
    alice = chain.users[0]
    tx = chain.post_task(alice, fee_per_round=300, rounds=3, fee=2)  # over the floor of 57
    after = chain.state.apply_tx(tx, PROPOSER)
    task = after.task(tx.tx_id)
    assert task is not None
    assert (task.escrow, task.round, task.status, task.owner) == (900, 0, TASK_OPEN, alice.address)
    assert task.checkpoint == tx.spec.initial_checkpoint
    assert after.account(alice.address).balance == BALANCE - 902


def test_bond_and_unbond_move_grains_between_balance_and_bond(chain: Chain) -> None:
    alice = chain.users[0]
    bonded = chain.state.apply_tx(chain.bond(alice, 400, fee=1), PROPOSER)
    assert (bonded.account(alice.address).balance, bonded.account(alice.address).bond) == (BALANCE - 401, 400)
    unbonded = bonded.apply_tx(chain.unbond(alice, 150, fee=1), PROPOSER)
    assert (unbonded.account(alice.address).balance, unbonded.account(alice.address).bond) == (BALANCE - 252, 250)


# --------------------------------------------------------------------------- rounds and rewards


def _posted(chain: Chain, rounds: int = 2) -> bytes:
    tx = chain.post_task(chain.users[0], fee_per_round=500, rounds=rounds)
    chain.advance([tx])
    return tx.tx_id


def test_round_closes_pays_miners_and_credits_work(chain: Chain) -> None:
    task_id = _posted(chain)
    miners = [key("miner0"), key("miner1")]
    receipts = [chain.receipt(m, task_id) for m in miners]
    built = chain.advance(results=[chain.result(task_id, receipts)], receipts=receipts)
    task = chain.state.task(task_id)
    assert task is not None and task.round == 1 and task.escrow == 500 and task.last_loss_micro == 900_000
    assert task.anchor == ZERO_HASH and chain.state.round_anchor(task_id) == built.block.block_hash
    block_reward = PARAMS.block_reward(chain.state.height)
    miner_pool = block_reward - PARAMS.validator_share(block_reward)
    flops = 2 * admission.compute_per_round(chain.state.task(task_id).spec)  # type: ignore[union-attr]
    # capped by the fee, the task share, and the fee floor's rate per verified FLOP
    mint = min(miner_pool, 500, PARAMS.task_share_cap(miner_pool), flops * PARAMS.min_fee_per_gflop // 10**9)
    assert 0 < mint < miner_pool
    assert chain.state.meta.minted == PARAMS.validator_share(block_reward) + mint
    paid = {r.recipient: r.amount for r in built.block.body.rewards if r.kind == Reward.KIND_MINER}
    assert paid == {m.address: mint // 2 + 250 for m in miners}
    assert all(chain.state.account(m.address).work == mint // 2 for m in miners)  # work = minted share
    chain.advance()
    assert chain.state.task(task_id).anchor == built.block.block_hash  # type: ignore[union-attr]


def test_last_round_finishes_the_task(chain: Chain) -> None:
    task_id = _posted(chain, rounds=1)
    receipts = [chain.receipt(key("miner0"), task_id)]
    chain.advance(results=[chain.result(task_id, receipts)], receipts=receipts)
    task = chain.state.task(task_id)
    assert task is not None and (task.status, task.escrow, task.round) == (TASK_FINISHED, 0, 1)
    with pytest.raises(UnknownTask):
        chain.state.round_anchor(bytes(32))


def test_a_task_without_progress_expires_and_refunds_its_owner(chain: Chain) -> None:
    task_id = _posted(chain)
    owner = chain.users[0].address
    balance = chain.state.account(owner).balance
    for _ in range(PARAMS.task_expiry_blocks):
        chain.advance()
    task = chain.state.task(task_id)
    assert task is not None and (task.status, task.escrow) == (TASK_EXPIRED, 0)
    assert chain.state.account(owner).balance == balance + 1000


@pytest.mark.parametrize(
    ("change", "error", "reason"),
    [
        ({"round": 1}, InvalidReceipt, "wrong-round"),
        ({"base_checkpoint": bytes(32)}, InvalidReceipt, "wrong-base"),
        ({"steps": 9}, InvalidReceipt, "wrong-steps"),
        ({"chain_id": "other"}, WrongChain, None),
        ({"task_id": bytes(32)}, UnknownTask, None),
        ({"signature": bytes(64)}, InvalidSignature, None),
    ],
)
def test_invalid_receipts_are_rejected(chain: Chain, change: dict, error: type, reason: str | None) -> None:
    task_id = _posted(chain)
    miner = key("miner0")
    receipt = chain.receipt(miner, task_id).replace(**change)
    if "signature" not in change:
        receipt = receipt.signed_by(miner)
    result = chain.result(task_id, [receipt])
    draft_state = chain.state
    built = chain.build()
    header = built.block.header.replace(height=draft_state.height + 1)
    with pytest.raises(error) as info:
        draft_state.apply_body(header, built.block.body.replace(receipts=(receipt,), results=(result,)))
    if reason is not None:
        assert info.value.reason == reason  # type: ignore[attr-defined]


def _apply_rounds(chain: Chain, receipts, results) -> None:  # type: ignore[no-untyped-def]
    built = chain.build()
    chain.state.apply_body(
        built.block.header, built.block.body.replace(receipts=tuple(receipts), results=tuple(results))
    )


def test_round_results_must_claim_exactly_the_blocks_receipts(chain: Chain) -> None:
    task_id = _posted(chain)
    r0, r1 = chain.receipt(key("miner0"), task_id), chain.receipt(key("miner1"), task_id)
    with pytest.raises(InvalidReceipt, match="duplicate"):
        _apply_rounds(chain, [r0, r0], [chain.result(task_id, [r0, r0])])
    with pytest.raises(InvalidRoundResult, match="differ"):
        _apply_rounds(chain, [r0, r1], [chain.result(task_id, [r1, r0])])
    with pytest.raises(InvalidRoundResult, match="does not close"):
        _apply_rounds(chain, [r0], [])
    with pytest.raises(InvalidRoundResult, match="without any receipt"):
        _apply_rounds(chain, [], [chain.result(task_id, [])])
    with pytest.raises(InvalidRoundResult, match="round"):
        _apply_rounds(chain, [r0], [chain.result(task_id, [r0]).replace(round=1)])
    with pytest.raises(InvalidRoundResult, match="two results"):
        _apply_rounds(chain, [r0], [chain.result(task_id, [r0]), chain.result(task_id, [r0])])


def test_listed_rewards_must_equal_the_computed_ones(chain: Chain) -> None:
    task_id = _posted(chain)
    receipts = [chain.receipt(key("miner0"), task_id)]
    built = chain.build(results=[chain.result(task_id, receipts)], receipts=receipts)
    rewards = built.block.body.rewards
    forged = (rewards[0].replace(amount=rewards[0].amount + 1),) + rewards[1:]
    with pytest.raises(WrongRewards):
        chain.state.apply_body(built.block.header, built.block.body.replace(rewards=forged))


def test_compute_rewards_accounts_for_every_grain() -> None:
    members = tuple(key(f"v{i}").public_key for i in range(3))
    committee = Committee(epoch=0, members=members)
    a, b, c, owner = b"a" * 20, b"b" * 20, b"c" * 20, b"o" * 20
    params = PARAMS.replace(max_task_share_bps=10_000)
    g = 10**9  # FLOPs: a GFLOP mints at most min_fee_per_gflop grains, far above this block's pool
    # task 1 pays a big fee: its compute share of the pool; task 2 pays 7: its mint is capped at 7
    rounds = [
        ClosedRound(b"1" * 32, 10**6, owner, ((a, 10 * g), (b, 20 * g))),
        ClosedRound(b"2" * 32, 7, owner, ((c, 3 * g),)),
    ]
    rewards = compute_rewards(params, 1, committee, members[1], rounds)
    block_reward = params.block_reward(1)
    miner_pool = block_reward - params.validator_share(block_reward)
    mint1 = miner_pool * 30 // 33
    assert sum(r.amount for r in rewards) == params.validator_share(block_reward) + mint1 + 7 + 10**6 + 7
    by = {(r.kind, r.recipient): r.amount for r in rewards}
    assert by[("miner", a)] == mint1 * 10 // 30 + 10**6 * 10 // 30
    assert by[("miner", c)] == 7 + 7
    share = params.validator_share(block_reward) // 3
    assert by[("validator", crypto.key_hash(members[0]))] == share
    assert by[("validator", crypto.key_hash(members[1]))] > share  # the proposer takes the remainders
    assert list(rewards) == sorted(rewards, key=lambda r: (r.kind, r.task_id, r.recipient))
    assert compute_rewards(PARAMS, 1, committee, members[1], []) == ()


# --------------------------------------------------------------------------- evidence


def _equivocation(chain: Chain, signer_index: int = 0) -> Evidence:
    signer = chain.validators[signer_index]
    height = chain.state.height
    return Evidence(chain.vote(signer, height, b"\x01" * 32), chain.vote(signer, height, b"\x02" * 32))


def test_evidence_slashes_the_whole_bond_to_the_proposer(chain: Chain) -> None:
    chain.advance()
    evidence = _equivocation(chain)
    culprit = chain.validators[0].address
    bond = chain.state.account(culprit).bond
    proposer = crypto.key_hash(chain.leader())
    before = chain.state.account(proposer).balance
    built = chain.advance(evidence=[evidence])
    assert built.block.body.evidence == (evidence,)
    assert chain.state.account(culprit).bond == 0
    assert chain.state.account(proposer).balance == before + bond
    again = chain.build(evidence=[evidence])
    assert again.block.body.evidence == () and isinstance(again.rejected[0][1], InvalidEvidence)


def test_evidence_against_a_stranger_is_rejected(chain: Chain) -> None:
    chain.advance()
    stranger = key("stranger")
    ev = Evidence(chain.vote(stranger, 1, b"\x01" * 32), chain.vote(stranger, 1, b"\x02" * 32))
    built = chain.build()
    with pytest.raises(InvalidEvidence):
        chain.state.apply_body(built.block.header, built.block.body.replace(evidence=(ev,)))


def _double_proposal(chain: Chain, **kwargs) -> ProposalEvidence:  # type: ignore[no-untyped-def]
    return chain.double_proposal(**kwargs)


def test_proposal_evidence_slashes_the_leader_to_the_proposer(chain: Chain) -> None:
    chain.advance()
    evidence = _double_proposal(chain, view=2)
    culprit = crypto.key_hash(evidence.proposer)
    bond = chain.state.account(culprit).bond
    proposer = crypto.key_hash(chain.leader())
    assert culprit != proposer and bond > 0
    before = chain.state.account(proposer).balance
    built = chain.advance(evidence=[evidence])  # validated like a peer's block
    assert built.block.body.evidence == (evidence,) and not built.rejected
    assert type(built.block.body).decode(built.block.body.encode()) == built.block.body
    assert chain.state.account(culprit).bond == 0
    assert chain.state.account(proposer).balance == before + bond
    assert chain.state.total_held() == chain.state.meta.genesis_supply + chain.state.meta.minted
    stored = SlashedOffences.decode(chain.state.entries()[SLASHED_KEY])
    assert [(o.offender, o.height, o.view) for o in stored.offences] == [(culprit, evidence.height, 2)]
    loaded = ChainState.from_entries(PARAMS, chain.state.entries())
    assert loaded.state_root == chain.state.state_root and loaded.slashed == chain.state.slashed


@pytest.mark.parametrize(
    "make, reason",
    [
        (
            lambda c: _double_proposal(
                c,
                signer=c.validators[0]
                if c.signers[leader_for(c.state.next_committee, 1, 0)] is not c.validators[0]
                else c.validators[1],
            ),
            "signature",
        ),
        (lambda c: _double_proposal(c).replace(view=1), "did not lead|signature"),
        (lambda c: _double_proposal(c).replace(signature_b=_double_proposal(c).signature_a), "signature"),
        (lambda c: _double_proposal(c).replace(block_hash_b=b"\x0a" * 32), "agree"),
        (lambda c: _double_proposal(c, chain_id="elsewhere"), "chain"),
        (lambda c: _double_proposal(c, height=5), "epoch's past"),
        (lambda c: _double_proposal(c).replace(proposer=key("stranger").public_key), "did not lead"),
    ],
    ids=[
        "not-the-leaders-key",
        "wrong-view",
        "bad-signature",
        "agreeing",
        "foreign-chain",
        "future-height",
        "stranger",
    ],
)
def test_invalid_proposal_evidence_is_rejected(chain: Chain, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    chain.advance()
    evidence = make(chain)
    built = chain.build()
    with pytest.raises(InvalidEvidence, match=reason):
        chain.state.apply_body(built.block.header, built.block.body.replace(evidence=(evidence,)))
    skipped = chain.build(evidence=[evidence])
    assert skipped.block.body.evidence == () and isinstance(skipped.rejected[0][1], InvalidEvidence)


def test_an_offence_is_punished_once_even_by_other_evidence_or_after_a_new_bond(chain: Chain) -> None:
    chain.advance()  # height 1
    evidence = _double_proposal(chain, view=0)
    leader_key = chain.signers[evidence.proposer]
    other_pair = evidence.replace(
        block_hash_b=b"\x0c" * 32,
        signature_b=leader_key.sign(
            crypto.SIG_PROPOSAL,
            chain.params.chain_id,
            proposal_signing_bytes(chain.params.chain_id, 1, 0, None, b"\x0c" * 32, evidence.proposer),
        ),
    )
    same_slot_votes = Evidence(chain.vote(leader_key, 1, b"\x01" * 32), chain.vote(leader_key, 1, b"\x02" * 32))
    # The same offence twice in one block: only the first counts.
    once = chain.build(evidence=[evidence, other_pair, same_slot_votes])
    assert once.block.body.evidence == (evidence,) and len(once.rejected) == 2
    # Height 2 slashes it; then (transactions come after evidence) the offender is funded and bonds again.
    chain.advance(
        [chain.transfer(chain.users[0], leader_key.address, 500), chain.bond(leader_key, 200)], evidence=[evidence]
    )
    assert chain.state.account(leader_key.address).bond == 200
    for again in (evidence, other_pair, same_slot_votes):
        built = chain.build(evidence=[again])
        assert built.block.body.evidence == ()
        with pytest.raises(InvalidEvidence, match="already punished"):
            chain.state.apply_body(built.block.header, built.block.body.replace(evidence=(again,)))
    assert SLASHED_KEY in chain.state.entries()
    chain.advance()  # height 3 ends epoch 0: its offences can no longer be included, so they are forgotten
    assert chain.state.height % PARAMS.epoch_length == PARAMS.epoch_length - 1
    assert SLASHED_KEY not in chain.state.entries() and not chain.state.slashed


# --------------------------------------------------------------------------- elections


def _acct(work: int, bond: int, name: str) -> tuple[bytes, Account]:
    k = key(name)
    return k.address, Account(balance=0, nonce=0, bond=bond, work=work, public_key=k.public_key)


def _names(committee: Committee) -> list[str]:
    lookup = {key(n).public_key: n for n in ["a", "b", "c", "d", "e", "m1", "m2", "m3"]}
    return sorted(lookup[m] for m in committee.members)


CURRENT = Committee(
    epoch=0, members=tuple(sorted((key(n).public_key for n in ["m1", "m2", "m3"]), key=crypto.key_hash))
)
P3 = PARAMS.replace(committee_size=3)


@pytest.mark.parametrize(
    ("accounts", "expected"),
    [
        # the most work wins among the bonded
        ([(50, 100, "a"), (40, 100, "b"), (30, 100, "c"), (20, 100, "d")], ["a", "b", "c"]),
        # a bond under min_bond does not qualify, however much work
        ([(99, 99, "a"), (40, 100, "b"), (30, 100, "c"), (20, 100, "d")], ["b", "c", "d"]),
        # no work, no seat by work: fill with still-bonded current members
        ([(10, 100, "a"), (0, 500, "b"), (0, 100, "m1"), (0, 100, "m2"), (0, 0, "m3")], ["a", "m1", "m2"]),
        # nobody qualifies at all: the current committee stays
        ([(5, 0, "a")], ["m1", "m2", "m3"]),
    ],
    ids=["top-work", "under-bonded", "fill-from-current", "keep-current"],
)
def test_election_table(accounts: list[tuple[int, int, str]], expected: list[str]) -> None:
    state = dict(_acct(w, b, n) for w, b, n in accounts)
    committee = elect_committee(P3, state, CURRENT, 1)
    assert _names(committee) == expected
    assert committee.epoch == 1
    assert list(committee.members) == sorted(committee.members, key=crypto.key_hash)


def test_election_ties_break_by_address() -> None:
    names = ["a", "b", "c", "d"]
    state = dict(_acct(10, 100, n) for n in names)
    committee = elect_committee(P3, state, CURRENT, 1)
    lowest = sorted(names, key=lambda n: key(n).address)[:3]
    assert _names(committee) == sorted(lowest)


def test_epoch_end_elects_miners_with_work_and_resets_credits() -> None:
    chain = Chain(params=PARAMS.replace(committee_size=2), validators=[key("validator0"), key("validator1")])
    miner = chain.users[1]
    post = chain.post_task(chain.users[0])
    chain.advance([chain.bond(miner, PARAMS.min_bond), post])
    task_id = post.tx_id
    receipts = [chain.receipt(miner, task_id)]
    chain.advance(results=[chain.result(task_id, receipts)], receipts=receipts)
    assert chain.state.account(miner.address).work == chain.state.pending_rewards(miner.address).popitem()[1].minted > 0
    while not PARAMS.is_epoch_end(chain.state.height):
        chain.advance()
    assert miner.public_key in chain.state.next_committee.members
    assert len(chain.state.next_committee.members) == 2
    assert chain.state.account(miner.address).work == 0
    chain.advance()  # the new committee signs the first block of the next epoch
    assert chain.state.committee.epoch == 1 and miner.public_key in chain.state.committee.members


# --------------------------------------------------------------------------- entries and proofs


def test_entries_round_trip_exactly(chain: Chain) -> None:
    task_id = _posted(chain)
    receipts = [chain.receipt(key("miner0"), task_id)]
    chain.advance([chain.bond(chain.users[2], 150)], results=[chain.result(task_id, receipts)], receipts=receipts)
    entries = chain.state.entries()
    loaded = ChainState.from_entries(PARAMS, entries)
    assert loaded.entries() == entries
    assert loaded.state_root == chain.state.state_root
    assert loaded.head_hash == chain.state.head_hash
    nxt = chain.build([chain.transfer(chain.users[0], PROPOSER, 3)])
    assert validate_block(loaded, nxt.block, require_qc=False).entries() == nxt.state.entries()


def test_head_hash_is_stored_but_not_under_the_state_root(chain: Chain) -> None:
    moved = chain.state.with_head(b"\x07" * 32)
    assert moved.state_root == chain.state.state_root
    assert moved.entries()[HEAD_KEY] == b"\x07" * 32


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda e: {**e, b"zzz": b"\x00"},
        lambda e: {k: v for k, v in e.items() if k != META_KEY},
        lambda e: {**e, ACCOUNT_PREFIX + bytes(20): EMPTY_ACCOUNT.encode()},
        lambda e: {**e, META_KEY: e[META_KEY][:-1]},
        lambda e: {**e, HEAD_KEY: b"short"},
        lambda e: {**e, NEXT_COMMITTEE_KEY: Committee(epoch=0, members=()).encode()},
        lambda e: {**e, SLASHED_KEY: SlashedOffences(offences=()).encode()},
    ],
    ids=[
        "unknown-key",
        "missing-meta",
        "empty-account",
        "truncated-value",
        "short-head",
        "empty-committee",
        "empty-slashed",
    ],
)
def test_from_entries_refuses_corrupt_entries(chain: Chain, corrupt) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StorageError):
        ChainState.from_entries(PARAMS, corrupt(chain.state.entries()))


def test_from_entries_refuses_a_foreign_chain(chain: Chain) -> None:
    with pytest.raises(StorageError, match="chain"):
        ChainState.from_entries(PARAMS.replace(chain_id="elsewhere"), chain.state.entries())


def test_account_proofs_verify_and_fail_on_a_changed_value(chain: Chain) -> None:
    alice = chain.users[0]
    proof = chain.state.prove_account(alice.address)
    root = chain.state.state_root
    assert proof.verify(root).balance == BALANCE
    assert AccountProof.decode(proof.encode()) == proof
    verify_account_proof(root, alice.address, proof.value, proof.proof)
    changed = Account.decode(proof.value).replace(balance=BALANCE + 1).encode()
    with pytest.raises(InvalidProof):
        verify_account_proof(root, alice.address, changed, proof.proof)
    with pytest.raises(InvalidProof):
        verify_account_proof(root, chain.users[1].address, proof.value, proof.proof)
    with pytest.raises(UnknownAccount):
        chain.state.prove_account(b"\x09" * 20)


def test_the_requesters_own_key_gets_no_minted_share_and_one_task_takes_at_most_its_cap() -> None:
    members = tuple(key(f"v{i}").public_key for i in range(3))
    committee = Committee(epoch=0, members=members)
    owner, other = b"o" * 20, b"x" * 20
    rounds = [ClosedRound(b"1" * 32, 10**6, owner, ((owner, 10**10), (other, 10**10)))]
    rewards = compute_rewards(PARAMS, 1, committee, members[1], rounds)
    by = {(r.kind, r.recipient): r.amount for r in rewards}
    block_reward = PARAMS.block_reward(1)
    mint = PARAMS.task_share_cap(block_reward - PARAMS.validator_share(block_reward))
    assert by[("miner", owner)] == 10**6 // 2  # its fee back, nothing minted
    assert by[("miner", other)] == 10**6 // 2 + mint // 2
    assert sum(r.amount for r in rewards) == PARAMS.validator_share(block_reward) + 10**6 + mint // 2


def test_minting_pays_at_most_the_fee_floor_per_verified_flop() -> None:
    members = tuple(key(f"v{i}").public_key for i in range(3))
    committee = Committee(epoch=0, members=members)
    params = PARAMS.replace(min_fee_per_gflop=100)  # 3 GFLOP mint 300 grains, under the pool and the task cap
    rounds = [ClosedRound(b"1" * 32, 10**6, b"o" * 20, ((b"a" * 20, 3 * 10**9),))]
    rewards = compute_rewards(params, 1, committee, members[1], rounds)
    [paid] = [r.amount for r in rewards if r.kind == Reward.KIND_MINER]
    assert paid == 10**6 + 300
