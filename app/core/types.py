"""The protocol's wire and storage types: frozen dataclasses with one canonical encoding each.

Signed records carry their signature as the last field; what is signed is the record's canonical
encoding with that field set to 64 zero bytes (`signing_bytes`), under the record's signature domain
and the chain id. Ids are domain-separated hashes of the full encoding (signature included).

Amounts are integers in the smallest unit ("grains"; 1 POT = 10**9 grains). Losses travel as integer
micro-units (loss * 1e6, rounded down) because floats have no canonical encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, cast

from app.core import crypto
from app.core.encoding import (
    Bytes20,
    Bytes32,
    MaxLen,
    PublicKey32,
    Range,
    Record,
    ShortText,
    Signature64,
    Uint64,
    encode,
)
from app.core.hashing import DOMAIN_COMMITTEE, DOMAIN_HEADER, DOMAIN_RECEIPT, DOMAIN_TX, ZERO_HASH, tagged_hash
from app.core.merkle import MerkleProof

GRAINS_PER_POT = 10**9
NO_SIGNATURE = bytes(64)

MAX_TXS_PER_BLOCK = 4096
MAX_RECEIPTS_PER_BLOCK = 1024
MAX_COMMITTEE = 128
MAX_PARAMS = 32
MAX_FRAUD_PROOFS_PER_BLOCK = 64
MAX_PATIENCE_ROUNDS = 100_000
MAX_MIN_IMPROVEMENT_MICRO = 10_000_000  # 10 nats: beyond any useful margin
MAX_TASK_TITLE = 80  # code points
MAX_TASK_DESCRIPTION = 500

Param = tuple[Annotated[str, MaxLen(32)], Annotated[str, MaxLen(64)]]
Params = Annotated[tuple[Param, ...], MaxLen(MAX_PARAMS)]


class Signed(Record):
    """A record signed by the key in its `signer_key` with the last field `signature`."""

    SIG_DOMAIN: ClassVar[bytes] = b""

    @property
    def signer_key(self) -> bytes:
        raise NotImplementedError

    def signing_bytes(self) -> bytes:
        return self.replace(signature=NO_SIGNATURE).encode()

    def signed_by(self, key: crypto.SigningKey):  # type: ignore[no-untyped-def]
        """A copy signed by `key` (whose public key must be the record's signer)."""
        if key.public_key != self.signer_key:
            raise ValueError("key does not match the record's signer")
        chain_id = getattr(self, "chain_id")
        return self.replace(signature=key.sign(self.SIG_DOMAIN, chain_id, self.signing_bytes()))

    def verify_signature(self) -> None:
        """Raise `InvalidSignature` unless the record is signed by its signer for its chain."""
        crypto.verify(
            self.signer_key,
            getattr(self, "signature"),
            self.SIG_DOMAIN,
            getattr(self, "chain_id"),
            self.signing_bytes(),
        )


# --------------------------------------------------------------------------- transactions


class Transaction(Signed):
    """A user transaction: `sender` pays `fee` and uses `nonce`."""

    SIG_DOMAIN = crypto.SIG_TX

    @property
    def signer_key(self) -> bytes:
        return cast(bytes, getattr(self, "sender"))

    @property
    def sender_address(self) -> bytes:
        return crypto.key_hash(getattr(self, "sender"))

    @property
    def tx_id(self) -> bytes:
        return tagged_hash(DOMAIN_TX, self.encode())


@dataclass(frozen=True)
class Transfer(Transaction):
    """Move `amount` grains from the sender to `recipient` (a 20-byte key hash)."""

    TAG = 1
    chain_id: ShortText
    sender: PublicKey32
    nonce: Uint64
    recipient: Bytes20
    amount: Uint64
    fee: Uint64
    memo: Annotated[str, MaxLen(128)]
    signature: Signature64


@dataclass(frozen=True)
class TaskSpec(Record):
    """What to train: a registry model (never code), data by Merkle root, and the round schedule.

    Hyper-parameters and optimiser settings are sorted (name, decimal string) pairs. A task may
    stop early by the patience rule (its last two fields).
    """

    TAG = 10
    model: ShortText
    model_version: Uint64
    hyperparams: Params
    dataset_root: Bytes32
    validation_shard: Bytes32
    initial_checkpoint: Bytes32
    optimizer: ShortText
    optimizer_params: Params
    batch_size: Annotated[int, Range(1, 65536)]
    local_steps: Annotated[int, Range(1, 1_000_000)]
    checkpoint_interval: Annotated[int, Range(1, 1_000_000)]
    rounds: Annotated[int, Range(1, 1_000_000)]
    # The patience rule (app/core/patience.py): finished after `patience_rounds` rounds without the
    # validation loss beating its best by `min_improvement_micro`; (0, 0) is no rule.
    patience_rounds: Annotated[int, Range(0, MAX_PATIENCE_ROUNDS)] = 0
    min_improvement_micro: Annotated[int, Range(0, MAX_MIN_IMPROVEMENT_MICRO)] = 0
    # The requester's words for people (app/core/tasktext.py: plain text, checked at post): shown by
    # the CLI and the window beside the hashes; never interpreted.
    title: Annotated[str, MaxLen(MAX_TASK_TITLE)] = ""
    description: Annotated[str, MaxLen(MAX_TASK_DESCRIPTION)] = ""


@dataclass(frozen=True)
class TaskPost(Transaction):
    """A requester posts a task and escrows `fee_per_round * spec.rounds` grains; its id is its tx id."""

    TAG = 2
    chain_id: ShortText
    sender: PublicKey32
    nonce: Uint64
    spec: TaskSpec
    fee_per_round: Uint64
    fee: Uint64
    signature: Signature64


@dataclass(frozen=True)
class Bond(Transaction):
    """Lock `amount` grains as a committee bond (slashable); negative changes go through `Unbond`."""

    TAG = 3
    chain_id: ShortText
    sender: PublicKey32
    nonce: Uint64
    amount: Uint64
    fee: Uint64
    signature: Signature64


@dataclass(frozen=True)
class Unbond(Transaction):
    """Release `amount` grains of bond back to the balance (not while a committee member)."""

    TAG = 5
    chain_id: ShortText
    sender: PublicKey32
    nonce: Uint64
    amount: Uint64
    fee: Uint64
    signature: Signature64


AnyTransaction = Transfer | TaskPost | Bond | Unbond


# --------------------------------------------------------------------------- training work


@dataclass(frozen=True)
class WorkReceipt(Signed):
    """A miner's signed claim of `steps` training steps on `task_id` in `round`.

    `commitments_root` is the Merkle root over the hashes of the checkpoints the miner took every
    `checkpoint_interval` steps (the base checkpoint first); `update_hash` addresses the update blob.
    """

    TAG = 4
    SIG_DOMAIN = crypto.SIG_RECEIPT
    chain_id: ShortText
    task_id: Bytes32
    round: Uint64
    miner: PublicKey32
    base_checkpoint: Bytes32
    commitments_root: Bytes32
    update_hash: Bytes32
    steps: Uint64
    final_loss_micro: Uint64
    device_class: ShortText
    signature: Signature64

    @property
    def signer_key(self) -> bytes:
        return self.miner

    @property
    def receipt_id(self) -> bytes:
        return tagged_hash(DOMAIN_RECEIPT, self.encode())


@dataclass(frozen=True)
class RoundResult(Record):
    """The close of a task's round: the aggregate checkpoint `W_{r+1}` and its validation loss."""

    TAG = 12
    task_id: Bytes32
    round: Uint64
    new_checkpoint: Bytes32
    validation_loss_micro: Uint64
    receipt_ids: Annotated[tuple[Bytes32, ...], MaxLen(MAX_RECEIPTS_PER_BLOCK)]


@dataclass(frozen=True)
class Reward(Record):
    """A payment the state machine computes and the block lists: to a miner or a validator."""

    TAG = 13
    KIND_MINER: ClassVar[str] = "miner"
    KIND_VALIDATOR: ClassVar[str] = "validator"
    recipient: Bytes20
    amount: Uint64
    kind: ShortText
    task_id: Bytes32


@dataclass(frozen=True)
class FraudProof(Record):
    """A challenger's claim that segment `segment` of an included `receipt` was not honestly trained.

    The on-chain form of `app.pot.fraud.FraudProof` (tag 74), plus the challenger to pay: the two
    checkpoint openings that bound the segment are spelled out as (checkpoint hash, Merkle proof) pairs
    so that core needs no miner types. The chain checks the structure (`app.core.fraud.check_fraud_proof_structure`)
    and that the receipt's reward is still pending; whether the segment really replays outside
    tolerance is re-executed by each committee member (`app.pot.fraud.check_fraud_proof`) before it
    votes. Unsigned, like equivocation evidence: the proof itself is the authority.
    """

    TAG = 14
    challenger: Bytes20
    receipt: WorkReceipt
    segment: Uint64
    start_checkpoint: Bytes32
    start_proof: MerkleProof
    end_checkpoint: Bytes32
    end_proof: MerkleProof

    @property
    def receipt_id(self) -> bytes:
        return self.receipt.receipt_id


# --------------------------------------------------------------------------- consensus

VOTE_PREVOTE = 1
VOTE_PRECOMMIT = 2


@dataclass(frozen=True)
class Vote(Signed):
    """A committee member's vote for `block_hash` at (`height`, `view`); a zero hash is a nil vote."""

    TAG = 20
    SIG_DOMAIN = crypto.SIG_VOTE
    chain_id: ShortText
    height: Uint64
    view: Uint64
    kind: Annotated[int, Range(VOTE_PREVOTE, VOTE_PRECOMMIT)]
    block_hash: Bytes32
    voter: PublicKey32
    signature: Signature64

    @property
    def signer_key(self) -> bytes:
        return self.voter


@dataclass(frozen=True)
class VoteSignature(Record):
    TAG = 22
    voter: PublicKey32
    signature: Signature64


@dataclass(frozen=True)
class QuorumCert(Record):
    """Precommit signatures of at least `floor(2M/3)+1` distinct committee members on one block."""

    TAG = 21
    chain_id: ShortText
    height: Uint64
    view: Uint64
    block_hash: Bytes32
    signatures: Annotated[tuple[VoteSignature, ...], MaxLen(MAX_COMMITTEE)]

    def vote_of(self, sig: VoteSignature) -> Vote:
        return Vote(
            chain_id=self.chain_id,
            height=self.height,
            view=self.view,
            kind=VOTE_PRECOMMIT,
            block_hash=self.block_hash,
            voter=sig.voter,
            signature=sig.signature,
        )


@dataclass(frozen=True)
class Evidence(Record):
    """Two votes by one voter of one kind at one height and view for different blocks."""

    TAG = 23
    vote_a: Vote
    vote_b: Vote


@dataclass(frozen=True)
class Committee(Record):
    """The members (public keys, sorted by address) that sign blocks during `epoch`."""

    TAG = 24
    epoch: Uint64
    members: Annotated[tuple[PublicKey32, ...], MaxLen(MAX_COMMITTEE)]

    @property
    def committee_hash(self) -> bytes:
        return tagged_hash(DOMAIN_COMMITTEE, self.encode())

    @property
    def quorum(self) -> int:
        return quorum_size(len(self.members))


def quorum_size(members: int) -> int:
    return (2 * members) // 3 + 1


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class BlockHeader(Record):
    """Everything a light client needs to follow the chain; its hash is the block hash."""

    TAG = 30
    chain_id: ShortText
    height: Uint64
    prev_hash: Bytes32
    epoch: Uint64
    view: Uint64
    timestamp_ms: Uint64
    state_root: Bytes32
    txs_root: Bytes32
    receipts_root: Bytes32
    results_root: Bytes32
    rewards_root: Bytes32
    evidence_root: Bytes32
    next_committee_hash: Bytes32
    proposer: PublicKey32
    # Added after the first headers (hence last, with a default that keeps old constructions working).
    fraud_proofs_root: Bytes32 = ZERO_HASH

    @property
    def block_hash(self) -> bytes:
        return tagged_hash(DOMAIN_HEADER, self.encode())


@dataclass(frozen=True)
class BlockBody(Record):
    TAG = 31
    transactions: Annotated[tuple[AnyTransaction, ...], MaxLen(MAX_TXS_PER_BLOCK)]
    receipts: Annotated[tuple[WorkReceipt, ...], MaxLen(MAX_RECEIPTS_PER_BLOCK)]
    results: Annotated[tuple[RoundResult, ...], MaxLen(64)]
    rewards: Annotated[tuple[Reward, ...], MaxLen(MAX_RECEIPTS_PER_BLOCK + MAX_COMMITTEE)]
    evidence: Annotated[tuple[Evidence | ProposalEvidence, ...], MaxLen(64)]
    fraud_proofs: Annotated[tuple[FraudProof, ...], MaxLen(MAX_FRAUD_PROOFS_PER_BLOCK)] = ()


@dataclass(frozen=True)
class Block(Record):
    """A header, its body, and the quorum certificate that finalised it (none for genesis)."""

    TAG = 32
    MAX_SIZE = 8 * 1024 * 1024
    header: BlockHeader
    body: BlockBody
    qc: QuorumCert | None

    @property
    def block_hash(self) -> bytes:
        return self.header.block_hash


@dataclass(frozen=True)
class SignedHeader(Record):
    """A header with its quorum certificate, as a light client receives it."""

    TAG = 33
    header: BlockHeader
    qc: QuorumCert | None


# --------------------------------------------------------------------------- consensus proposals


def proposal_signing_bytes(
    chain_id: str, height: int, view: int, pol_view: int | None, block_hash: bytes, proposer: bytes
) -> bytes:
    """What a leader signs for a proposal: the block's hash, not its bytes (see `Proposal`)."""
    return encode([Proposal.TAG, chain_id, height, view, pol_view, block_hash, proposer])


@dataclass(frozen=True)
class Proposal(Signed):
    """The leader of (`height`, `view`) proposes `block` (whose `qc` is still None).

    `pol_view` is the earlier view in which a quorum prevoted this block (its proof of lock), so members
    locked on it may accept it again; None for a freshly built block. The signature covers the block
    hash rather than the block bytes, so two conflicting proposals make compact `ProposalEvidence`.
    """

    TAG = 25
    SIG_DOMAIN = crypto.SIG_PROPOSAL
    MAX_SIZE = Block.MAX_SIZE + 1024
    chain_id: ShortText
    height: Uint64
    view: Uint64
    pol_view: Uint64 | None
    block: Block
    proposer: PublicKey32
    signature: Signature64

    @property
    def signer_key(self) -> bytes:
        return self.proposer

    @property
    def block_hash(self) -> bytes:
        return self.block.block_hash

    def signing_bytes(self) -> bytes:
        return proposal_signing_bytes(
            self.chain_id, self.height, self.view, self.pol_view, self.block_hash, self.proposer
        )


@dataclass(frozen=True)
class ProposalEvidence(Record):
    """A leader's two signed proposals of different blocks at one height and view (slashable)."""

    TAG = 26
    chain_id: ShortText
    height: Uint64
    view: Uint64
    proposer: PublicKey32
    pol_view_a: Uint64 | None
    block_hash_a: Bytes32
    signature_a: Signature64
    pol_view_b: Uint64 | None
    block_hash_b: Bytes32
    signature_b: Signature64
