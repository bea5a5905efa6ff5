"""End to end: a cheating miner's receipt gets on chain, a challenger proves it, the chain claws back.

Real training (the digits task), real re-execution (`check_fraud_proof`), a real chain (blocks built,
signed by a quorum and validated): only the committee's miss is simulated, by including the forged
receipt without verifying it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from app.core import admission, crypto
from app.core.fraud import UnknownReceipt
from app.core.rewards import REWARD_CLAWED
from app.core.types import NO_SIGNATURE, FraudProof as ChainFraudProof, Reward, TaskPost, TaskSpec
from app.miner.loop import RoundJob, RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.pot import optim
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import Split
from app.pot.engine import update_tensors
from app.pot.fraud import PROVEN, check_fraud_proof, evidence_of, make_fraud_proof
from app.pot.proof import TrainingTrace, make_receipt
from app.pot.tensors import decode_tensors, encode_tensors
from app.pot.verify import TaskView, Verifier
from tests.core.chainkit import PARAMS, Chain, key

from .conftest import CHAIN, CPU

CHALLENGER = key("challenger").address


def _chain_with_task(spec: TaskSpec) -> tuple[Chain, bytes]:
    chain = Chain(params=PARAMS.replace(chain_id=CHAIN))
    owner = chain.users[0]
    fee = admission.min_fee_per_round(spec, chain.params.min_fee_per_gflop)  # the floor: admission refuses less
    post = TaskPost(CHAIN, owner.public_key, chain.next_nonce(owner), spec, fee, 1, NO_SIGNATURE).signed_by(owner)
    chain.advance([post])
    return chain, post.tx_id


def _forged(out: RoundOutput, key_: crypto.SigningKey, store: MemoryBlobStore, task_id: bytes) -> RoundOutput:
    """The same round with checkpoint 2 doctored and everything after it consistently re-committed."""
    ckpt = decode_tensors(store.get(out.trace.checkpoints[2]))
    torch.manual_seed(0)
    forged = {k: v + 0.05 * torch.randn_like(v) if k.startswith(optim.PARAM) else v for k, v in ckpt.items()}
    checkpoints = list(out.trace.checkpoints)
    checkpoints[2] = store.put(encode_tensors(forged))
    final, base = decode_tensors(store.get(checkpoints[-1])), decode_tensors(store.get(checkpoints[0]))
    update_hash = store.put(encode_tensors(update_tensors(final, base)))
    receipt = make_receipt(
        key=key_,
        chain_id=CHAIN,
        task_id=task_id,
        round_number=out.receipt.round,
        checkpoints=checkpoints,
        update_hash=update_hash,
        steps=out.receipt.steps,
        final_loss=out.receipt.final_loss_micro / 1e6,
        device_class="cpu",
    )
    return RoundOutput(receipt, TrainingTrace(checkpoints=tuple(checkpoints), samples=out.trace.samples), update_hash)


def test_a_missed_cheat_is_proven_and_clawed_back(
    spec: TaskSpec, store: MemoryBlobStore, data: Split, keys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    chain, task_id = _chain_with_task(spec)
    anchor = chain.state.round_anchor(task_id)
    cheater, honest = keys[0], keys[1]
    outs = []
    for k in (cheater, honest):
        job = RoundJob(CHAIN, task_id, spec, 0, anchor, spec.initial_checkpoint)
        out = train_round(job, k, store, data, device=CPU, resume=ResumeDir(tmp_path / k.public_key.hex()[:8]))
        assert isinstance(out, RoundOutput)
        outs.append(out)
    bad = _forged(outs[0], cheater, store, task_id)
    good = outs[1]
    view = TaskView(spec=spec, current_round=0, current_checkpoint=spec.initial_checkpoint, anchor_block_hash=anchor)
    verifier = Verifier(CHAIN, {task_id: view}, store, lambda _spec: data, CPU)

    # The committee misses the cheat (simulated: nobody verifies), and both receipts are paid, pending.
    receipts = [bad.receipt, good.receipt]
    built = chain.advance(results=[chain.result(task_id, receipts)], receipts=receipts)
    paid = {r.recipient: r.amount for r in built.block.body.rewards if r.kind == Reward.KIND_MINER}
    assert chain.state.account(cheater.address).pending == paid[cheater.address] > 0
    assert chain.state.account(cheater.address).balance == 0

    # A challenger replays segment 1 (it ends in the forged checkpoint) and publishes the proof.
    proof = make_fraud_proof(bad.receipt, 1, bad.trace).for_chain(CHALLENGER)
    proof = ChainFraudProof.decode(proof.encode())  # as received from gossip
    assert evidence_of(proof) == make_fraud_proof(bad.receipt, 1, bad.trace)
    # The committee, before voting on a block with the proof, re-executes it (the round is over now).
    after = TaskView(spec=spec, current_round=1, current_checkpoint=b"\x00" * 32, anchor_block_hash=anchor)
    verdict = check_fraud_proof(proof, Verifier(CHAIN, {task_id: after}, store, lambda _spec: data, CPU))
    assert (verdict.accepted, verdict.reason) == (True, PROVEN), verdict
    # An attempt to frame the honest miner fails the same check (the chain alone could not tell).
    framed = make_fraud_proof(good.receipt, 1, good.trace).for_chain(CHALLENGER)
    assert check_fraud_proof(framed, verifier).reason == "segment-correct"

    owner = chain.users[0].address
    owner_before = chain.state.account(owner).balance
    supply = chain.state.total_held()
    built = chain.advance(fraud_proofs=[proof])
    assert built.block.body.fraud_proofs == (proof,)
    bounty = PARAMS.fraud_bounty(paid[cheater.address])
    assert chain.state.account(CHALLENGER).balance == bounty
    assert chain.state.account(owner).balance == owner_before + paid[cheater.address] - bounty
    acct = chain.state.account(cheater.address)
    assert (acct.balance, acct.pending, acct.work) == (0, 0, 0)
    assert chain.state.pending_reward(bad.receipt.receipt_id).status == REWARD_CLAWED  # type: ignore[union-attr]
    assert chain.state.total_held() == supply
    assert chain.state.account(honest.address).pending == paid[honest.address]

    # A proof of a receipt that was never included is refused by the chain itself.
    stray = make_fraud_proof(outs[0].receipt, 1, outs[0].trace).for_chain(CHALLENGER)
    [(_, error)] = chain.build(fraud_proofs=[stray]).rejected
    assert isinstance(error, UnknownReceipt)
