"""A small real chain for the core's tests: genesis, signed items, and blocks finalised by real QCs.

Nothing here is mocked: blocks come from `build_block`, are signed by the committee's keys and go
through `validate_block` like a peer's block would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from app.core import crypto
from app.core.builder import BuiltBlock, build_block
from app.core.consensus import leader_for, make_qc
from app.core.crypto import SigningKey
from app.core.genesis import Genesis, genesis_block, make_devnet_genesis
from app.core.hashing import blob_hash
from app.core.merkle import merkle_proof, merkle_root
from app.core.params import DEVNET, ChainParams
from app.core.state import ChainState
from app.core.types import (
    NO_SIGNATURE,
    VOTE_PRECOMMIT,
    AnyTransaction,
    Block,
    Bond,
    Evidence,
    FraudProof,
    ProposalEvidence,
    QuorumCert,
    RoundResult,
    TaskPost,
    TaskSpec,
    Transfer,
    Unbond,
    Vote,
    WorkReceipt,
    proposal_signing_bytes,
)
from app.core.validation import leader, validate_block

PARAMS = DEVNET.replace(
    chain_id="pot-test",
    epoch_length=4,
    committee_size=4,
    min_bond=100,
    initial_block_reward=1_000,
    halving_interval=10,
    validator_share_bps=1_000,
    task_expiry_blocks=5,
    min_fee_per_gflop=100_000,  # chainkit's task (0.57 MFLOP a receipt): a floor of 57 grains per round
)
START_MS = 1_700_000_000_000
BALANCE = 1_000_000


def key(name: str) -> SigningKey:
    """A deterministic key per name, so failures reproduce."""
    return SigningKey.from_seed(hashlib.sha256(f"chainkit/{name}".encode()).digest())


def spec(rounds: int = 2, local_steps: int = 10, **changes: object) -> TaskSpec:
    """A small admissible task of the registry's MLP (made-up data hashes: core never trains it)."""
    return TaskSpec(
        model="mlp",
        model_version=1,
        hyperparams=(("classes", "10"), ("hidden", "16"), ("input_max", "16"), ("inputs", "64"), ("layers", "1")),
        dataset_root=blob_hash(b"dataset"),
        validation_shard=blob_hash(b"validation"),
        initial_checkpoint=blob_hash(b"w0"),
        optimizer="sgd",
        optimizer_params=(("lr", "0.1"), ("momentum", "0"), ("weight_decay", "0")),
        batch_size=8,
        local_steps=local_steps,
        checkpoint_interval=5,
        rounds=rounds,
    ).replace(**changes)


def made_up_trace(miner: bytes, task_id: bytes, base: bytes, segments: int) -> list[bytes]:
    """Checkpoint hashes for a receipt (made up: core never re-executes them), base first."""
    return [base] + [blob_hash(b"ckpt%d" % j + miner + task_id) for j in range(1, segments + 1)]


@dataclass
class Chain:
    """A devnet of `validators` committee keys and funded `users`, advanced one valid block at a time."""

    params: ChainParams = PARAMS
    validators: list[SigningKey] = field(default_factory=lambda: [key(f"validator{i}") for i in range(4)])
    users: list[SigningKey] = field(default_factory=lambda: [key(f"user{i}") for i in range(3)])
    genesis: Genesis = field(init=False)
    state: ChainState = field(init=False)
    blocks: list[Block] = field(init=False)
    nonces: dict[bytes, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.genesis = make_devnet_genesis(
            [v.public_key for v in self.validators],
            {u.address: BALANCE for u in self.users},
            params=self.params,
            timestamp_ms=START_MS,
            bond=self.params.min_bond * 2,
        )
        block, self.state = genesis_block(self.genesis)
        self.blocks = [block]
        self.signers = {k.public_key: k for k in self.validators + self.users}

    # ---- signed items

    def next_nonce(self, sender: SigningKey) -> int:
        nonce = self.nonces.get(sender.public_key, self.state.account(sender.address).nonce)
        self.nonces[sender.public_key] = nonce + 1
        return nonce

    def transfer(
        self, sender: SigningKey, recipient: bytes, amount: int, fee: int = 1, nonce: int | None = None
    ) -> Transfer:
        nonce = self.next_nonce(sender) if nonce is None else nonce
        tx = Transfer(self.params.chain_id, sender.public_key, nonce, recipient, amount, fee, "", NO_SIGNATURE)
        return tx.signed_by(sender)

    def post_task(
        self,
        sender: SigningKey,
        fee_per_round: int = 500,
        rounds: int = 2,
        fee: int = 1,
        task_spec: TaskSpec | None = None,
    ) -> TaskPost:
        """A signed post of `task_spec` (default: chainkit's `spec(rounds)`)."""
        task_spec = spec(rounds) if task_spec is None else task_spec
        tx = TaskPost(
            self.params.chain_id,
            sender.public_key,
            self.next_nonce(sender),
            task_spec,
            fee_per_round,
            fee,
            NO_SIGNATURE,
        )
        return tx.signed_by(sender)

    def bond(self, sender: SigningKey, amount: int, fee: int = 1) -> Bond:
        return Bond(
            self.params.chain_id, sender.public_key, self.next_nonce(sender), amount, fee, NO_SIGNATURE
        ).signed_by(sender)

    def unbond(self, sender: SigningKey, amount: int, fee: int = 1) -> Unbond:
        return Unbond(
            self.params.chain_id, sender.public_key, self.next_nonce(sender), amount, fee, NO_SIGNATURE
        ).signed_by(sender)

    def receipt(self, miner: SigningKey, task_id: bytes, **changes: object) -> WorkReceipt:
        """A valid receipt for the task's current round (fields overridable to make invalid ones)."""
        task = self.state.task(task_id)
        assert task is not None
        fields: dict[str, object] = dict(
            chain_id=self.params.chain_id,
            task_id=task_id,
            round=task.round,
            miner=miner.public_key,
            base_checkpoint=task.checkpoint,
            commitments_root=merkle_root(self.trace(miner, task_id)),
            update_hash=blob_hash(b"update" + miner.public_key),
            steps=task.spec.local_steps,
            final_loss_micro=1_500_000,
            device_class="cpu",
            signature=NO_SIGNATURE,
        )
        fields.update(changes)
        receipt = WorkReceipt(**fields)  # type: ignore[arg-type]
        return receipt.signed_by(miner) if changes.get("signature") is None else receipt

    def trace(self, miner: SigningKey, task_id: bytes) -> list[bytes]:
        """The checkpoint hashes a miner's receipt for the task's current round commits to."""
        task = self.state.task(task_id)
        assert task is not None
        return made_up_trace(
            miner.public_key, task_id, task.checkpoint, task.spec.local_steps // task.spec.checkpoint_interval
        )

    def fraud_proof(
        self, receipt: WorkReceipt, segment: int, challenger: bytes, trace: Sequence[bytes] | None = None
    ) -> FraudProof:
        """A well-formed fraud proof of `segment` of a chainkit `receipt` (openings from its made-up trace)."""
        if trace is None:
            task = self.state.task(receipt.task_id)
            assert task is not None
            segments = task.spec.local_steps // task.spec.checkpoint_interval
            trace = made_up_trace(receipt.miner, receipt.task_id, receipt.base_checkpoint, segments)
        return FraudProof(
            challenger=challenger,
            receipt=receipt,
            segment=segment,
            start_checkpoint=trace[segment],
            start_proof=merkle_proof(list(trace), segment),
            end_checkpoint=trace[segment + 1],
            end_proof=merkle_proof(list(trace), segment + 1),
        )

    def result(self, task_id: bytes, receipts: Sequence[WorkReceipt], loss: int = 900_000) -> RoundResult:
        task = self.state.task(task_id)
        assert task is not None
        return RoundResult(
            task_id=task_id,
            round=task.round,
            new_checkpoint=blob_hash(b"w%d" % (task.round + 1) + task_id),
            validation_loss_micro=loss,
            receipt_ids=tuple(r.receipt_id for r in receipts),
        )

    def vote(self, signer: SigningKey, height: int, block_hash: bytes, view: int = 0) -> Vote:
        vote = Vote(self.params.chain_id, height, view, VOTE_PRECOMMIT, block_hash, signer.public_key, NO_SIGNATURE)
        return vote.signed_by(signer)

    def double_proposal(
        self, view: int = 0, height: int | None = None, signer: SigningKey | None = None, chain_id: str | None = None
    ) -> ProposalEvidence:
        """Two proposals of different blocks signed by the leader of (`height`, `view`), or by `signer`."""
        height = self.state.height if height is None else height
        leader = leader_for(self.state.next_committee, height, view)
        key_ = signer or self.signers[leader]
        chain_id = chain_id or self.params.chain_id

        def sign(block_hash: bytes) -> bytes:
            message = proposal_signing_bytes(chain_id, height, view, None, block_hash, leader)
            return key_.sign(crypto.SIG_PROPOSAL, chain_id, message)

        a, b = b"\x0a" * 32, b"\x0b" * 32
        return ProposalEvidence(chain_id, height, view, leader, None, a, sign(a), None, b, sign(b))

    def qc(self, block: Block, signers: Iterable[SigningKey] | None = None) -> QuorumCert:
        committee = self.state.next_committee
        chosen = (
            list(signers) if signers is not None else [self.signers[m] for m in committee.members[: committee.quorum]]
        )
        return make_qc([self.vote(s, block.header.height, block.block_hash, block.header.view) for s in chosen])

    # ---- blocks

    def leader(self, view: int = 0) -> bytes:
        return leader(self.state.next_committee, self.state.height + 1, view)

    def build(
        self,
        txs: Iterable[AnyTransaction] = (),
        results: Sequence[RoundResult] = (),
        receipts: Iterable[WorkReceipt] = (),
        evidence: Iterable[Evidence | ProposalEvidence] = (),
        view: int = 0,
        fraud_proofs: Iterable[FraudProof] = (),
    ) -> BuiltBlock:
        return build_block(
            self.state,
            self.leader(view),
            timestamp_ms=self.state.timestamp_ms + 1_000,
            view=view,
            transactions=txs,
            results=results,
            receipts=receipts,
            evidence=evidence,
            fraud_proofs=fraud_proofs,
        )

    def finalise(self, built: BuiltBlock) -> Block:
        """Sign `built` with a quorum, validate it as a peer would, and make it the head."""
        block = built.block.replace(qc=self.qc(built.block))
        self.state = validate_block(self.state, block)
        self.blocks.append(block)
        self.nonces.clear()
        return block

    def advance(self, txs: Iterable[AnyTransaction] = (), **kwargs: object) -> BuiltBlock:
        built = self.build(txs, **kwargs)  # type: ignore[arg-type]
        self.finalise(built)
        return built
