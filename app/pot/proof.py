"""What a miner commits to and publishes for a round: the checkpoint trace and the work receipt.

The trace is the list of checkpoint hashes `[base, c_k, c_2k, ..., c_H]` (the base is the round's
global checkpoint, parameters only; each `c_jk` is the blob of parameters and optimiser state after
`j*k` steps). The receipt's `commitments_root` is `merkle_root(trace)`, each leaf being a 32-byte
hash. A verifier asks for the openings it challenges (hash plus Merkle proof) and fetches those blobs
by hash, so it never needs the whole trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from app.core import crypto
from app.core.encoding import Bytes32, MaxLen, Record, Uint64
from app.core.errors import InvalidProof, InvalidReceipt
from app.core.merkle import MerkleProof, merkle_proof, merkle_root, verify_proof
from app.core.types import NO_SIGNATURE, TaskSpec, WorkReceipt

MAX_CHECKPOINTS = 4096  # per round, base excluded
LOSS_SCALE = 1_000_000


def segment_count(spec: TaskSpec) -> int:
    """Number of k-step segments in a round; the spec must divide H by k."""
    if spec.local_steps % spec.checkpoint_interval:
        raise ValueError("local_steps must be a multiple of checkpoint_interval")
    n = spec.local_steps // spec.checkpoint_interval
    if n > MAX_CHECKPOINTS:
        raise ValueError(f"{n} checkpoints per round exceed the limit of {MAX_CHECKPOINTS}")
    return n


def loss_micro(loss: float) -> int:
    """A loss as integer micro-units, rounded down (types.py's convention)."""
    if not loss >= 0 or loss == float("inf"):
        raise ValueError(f"loss {loss} is not a finite non-negative number")
    return int(loss * LOSS_SCALE)


@dataclass(frozen=True)
class CheckpointOpening(Record):
    """The checkpoint hash at `proof.index` of a trace, with its proof against the commitments root."""

    TAG = 71
    checkpoint: Bytes32
    proof: MerkleProof

    def check(self, root: bytes, index: int, leaf_count: int) -> bytes:
        """The opened hash, after checking it is leaf `index` of `leaf_count` under `root`."""
        if self.proof.index != index or self.proof.leaf_count != leaf_count:
            raise InvalidReceipt(
                "bad-opening",
                f"opening is for leaf {self.proof.index}/{self.proof.leaf_count}, wanted {index}/{leaf_count}",
            )
        try:
            verify_proof(root, self.checkpoint, self.proof)
        except InvalidProof as exc:
            raise InvalidReceipt("bad-opening", str(exc)) from None
        return self.checkpoint


@dataclass(frozen=True)
class TrainingTrace(Record):
    """All checkpoint hashes of one round, base first; the miner keeps it to answer challenges."""

    TAG = 72
    checkpoints: Annotated[tuple[Bytes32, ...], MaxLen(MAX_CHECKPOINTS + 1)]
    samples: Uint64

    @property
    def root(self) -> bytes:
        return merkle_root(list(self.checkpoints))

    def opening(self, index: int) -> CheckpointOpening:
        return CheckpointOpening(checkpoint=self.checkpoints[index], proof=merkle_proof(list(self.checkpoints), index))


def make_receipt(
    *,
    key: crypto.SigningKey | bytes,
    chain_id: str,
    task_id: bytes,
    round_number: int,
    checkpoints: list[bytes],
    update_hash: bytes,
    steps: int,
    final_loss: float,
    device_class: str,
) -> WorkReceipt:
    """The receipt of a finished round: signed when `key` is the miner's signing key, unsigned (for the
    key's holder to sign) when it is only the miner's public key, as in the training worker process."""
    unsigned = WorkReceipt(
        chain_id=chain_id,
        task_id=task_id,
        round=round_number,
        miner=miner_public_key(key),
        base_checkpoint=checkpoints[0],
        commitments_root=merkle_root(checkpoints),
        update_hash=update_hash,
        steps=steps,
        final_loss_micro=loss_micro(final_loss),
        device_class=device_class,
        signature=NO_SIGNATURE,
    )
    return sign_if_key(unsigned, key)


def miner_public_key(miner: crypto.SigningKey | bytes) -> bytes:
    """The public key of a miner given by its signing key or by the public key itself."""
    return miner if isinstance(miner, bytes) else miner.public_key


def sign_if_key(receipt: WorkReceipt, miner: crypto.SigningKey | bytes) -> WorkReceipt:
    """`receipt` signed by `miner` when that is a signing key; as it is when only a public key."""
    if isinstance(miner, bytes):
        return receipt
    signed: WorkReceipt = receipt.signed_by(miner)
    return signed
