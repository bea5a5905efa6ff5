"""A validator's fraud-proof desk: it votes only for proofs it re-executed as proven, and pools those it may propose.

Real training (the digits task), a real forged receipt included on a real chain, the node's own
re-execution (`TrainingWork.check_fraud`) and the task view found in the chain's stored blocks. Only
the committee's earlier miss of the forgery is simulated (the receipts are included unverified).
"""

from __future__ import annotations

import pytest
import torch

from app.core import admission
from app.core.blobstore import BlobStore
from app.core.fraud import DuplicateFraudProof
from app.core.rewards import REWARD_CLAWED
from app.core.types import FraudProof, TaskPost
from app.miner import demo
from app.miner.loop import RoundJob, RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.net.topics import RULES, TopicKind
from app.net.validators import Verdict as GossipVerdict
from app.node import gossip
from app.node.fraud import FraudDesk, round_view
from app.node.rounds import RoundNotChecked
from app.node.work import TrainingWork
from app.pot.fraud import PROVEN, make_fraud_proof
from tests.core.chainkit import PARAMS, Chain, key
from tests.miner.test_fraud_chain import _forged

CHAIN = "pot-devnet"
CHALLENGER = key("challenger").address
CPU = torch.device("cpu")


@pytest.fixture()
def world(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A chain on which a cheater's forged receipt and an honest one were both paid (pending); each test gets its
    own (one finalises on it), so they pass alone and in any order."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("fraud")
    spec = demo.task_spec(local_steps=12, checkpoint_interval=4, batch_size=32)
    blobs = BlobStore(tmp / "blobs")
    demo.seed_blobs(blobs, spec)
    chain = Chain(params=PARAMS.replace(chain_id=CHAIN))
    owner = chain.users[0]
    fee = admission.min_fee_per_round(spec, chain.params.min_fee_per_gflop)  # the admission floor (issue 12)
    post = TaskPost(CHAIN, owner.public_key, chain.next_nonce(owner), spec, fee, 1, b"\0" * 64).signed_by(owner)
    chain.advance([post])
    chain.advance()  # the round's anchor is filled in from the next block's prev_hash
    task_id = post.tx_id
    anchor = chain.state.round_anchor(task_id)
    work = TrainingWork(CHAIN, blobs, fetch_blob=_no_peers, fetch_trace=_no_peers)
    data = work.training_data(spec)
    outs = []
    for k in (key("cheater"), key("honest")):
        job = RoundJob(CHAIN, task_id, spec, 0, anchor, spec.initial_checkpoint)
        out = train_round(job, k, blobs, data, device=CPU, resume=ResumeDir(tmp / k.public_key.hex()[:8]))
        assert isinstance(out, RoundOutput)
        outs.append(out)
    bad, good = _forged(outs[0], key("cheater"), blobs, task_id), outs[1]
    chain.advance()
    receipts = [bad.receipt, good.receipt]
    chain.advance(results=[chain.result(task_id, receipts)], receipts=receipts)
    chain.advance()
    proven = make_fraud_proof(bad.receipt, 1, bad.trace).for_chain(CHALLENGER)
    framing = make_fraud_proof(good.receipt, 1, good.trace).for_chain(CHALLENGER)
    return chain, work, anchor, proven, framing


def _no_peers(_: object) -> bytes:
    raise LookupError("no peers in this test")


def make_desk(chain: Chain, work: TrainingWork):  # type: ignore[no-untyped-def]
    """A desk wired as the node wires it, its re-executions queued to run when the test says."""
    queued: list = []
    desk = FraudDesk(
        lambda proof, view: queued.append((proof, view)),
        lambda proof, head: round_view(lambda h: chain.blocks[h] if h < len(chain.blocks) else None, proof, head),
    )

    def run_queued() -> None:
        while queued:
            proof, view = queued.pop(0)
            desk.checked(proof, work.check_fraud(proof, view))

    return desk, queued, run_queued


def test_a_validator_votes_only_for_fraud_proofs_it_proved_itself(world) -> None:  # type: ignore[no-untyped-def]
    chain, work, anchor, proven, framing = world
    desk, queued, run_queued = make_desk(chain, work)
    # A Byzantine leader proposes a block that frames the honest miner: the state accepts it (it is well formed).
    framed_block = chain.build(fraud_proofs=[framing]).block
    assert framed_block.body.fraud_proofs == (framing,)
    honest_block = chain.build(fraud_proofs=[proven]).block
    both_block = chain.build(fraud_proofs=[proven, framing]).block

    for block in (framed_block, honest_block, both_block):
        assert desk.missing_work(block, chain.state)  # re-executions scheduled, none answered yet
        with pytest.raises(RoundNotChecked, match="not re-executed here"):
            desk.check_block(block)
    assert len(queued) == 2  # one re-execution per distinct proof
    assert all(view.anchor_block_hash == anchor for _, view in queued)  # the view of the receipt's round

    run_queued()
    assert not desk.missing_work(framed_block, chain.state)
    assert desk.verdict(framing).reason == "segment-correct"  # type: ignore[union-attr]
    assert desk.verdict(proven).reason == PROVEN  # type: ignore[union-attr]
    with pytest.raises(RoundNotChecked, match="segment-correct"):
        desk.check_block(framed_block)
    with pytest.raises(RoundNotChecked, match="segment-correct"):
        desk.check_block(both_block)
    desk.check_block(honest_block)  # every proof proven here: the member may vote for it


def test_a_gossiped_fraud_proof_is_pooled_proposed_and_claws_the_reward_back(world) -> None:  # type: ignore[no-untyped-def]
    chain, work, _, proven, framing = world
    cheater, honest = key("cheater").address, key("honest").address
    # The proof travels on the votes topic and the gossip check relays it (structure, reward pending).
    assert RULES[TopicKind.VOTES].type_for(FraudProof.TAG) is FraudProof
    received = FraudProof.decode(proven.encode())
    validate = gossip.make_validator(lambda: chain.state)
    assert validate("peer", received) is GossipVerdict.ACCEPT
    assert validate("peer", framing) is GossipVerdict.ACCEPT  # the torch check is the validator's, not gossip's
    tampered = received.replace(end_checkpoint=received.start_checkpoint)
    assert validate("peer", tampered) is GossipVerdict.REJECT

    desk, queued, run_queued = make_desk(chain, work)
    assert desk.offer(received, chain.state) and desk.offer(framing, chain.state)
    assert not desk.offer(received, chain.state)  # known already
    assert desk.ready(chain.state) == []  # nothing proposed before the re-execution proves it
    run_queued()
    assert desk.ready(chain.state) == [received]  # the framing proof never reaches a block

    pending = chain.state.account(cheater).pending
    owner_before = chain.state.account(chain.users[0].address).balance
    assert pending > 0
    built = chain.build(fraud_proofs=desk.ready(chain.state))
    desk.check_block(built.block)  # the other members' check passes too: they proved it themselves
    chain.finalise(built)
    assert chain.state.account(cheater).pending == 0
    assert chain.state.pending_reward(proven.receipt_id).status == REWARD_CLAWED  # type: ignore[union-attr]
    bounty = chain.params.fraud_bounty(pending)
    assert chain.state.account(CHALLENGER).balance == bounty
    assert chain.state.account(chain.users[0].address).balance == owner_before + pending - bounty
    assert chain.state.account(honest).pending > 0  # the honest miner keeps its reward

    desk.on_commit(chain.state)
    assert desk.ready(chain.state) == []
    with pytest.raises(DuplicateFraudProof):
        desk.offer(received, chain.state)
    assert validate("peer", received) is GossipVerdict.IGNORE  # stale now, not the relayer's fault
