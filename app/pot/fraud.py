"""Fraud proofs: anyone who re-executes a segment of an included receipt can show it was wrong.

A miner's reward vests after a challenge window (DESIGN.md). During it, a `FraudProof` names the
receipt and one segment with the two checkpoint openings that bound it; checking it re-executes that
segment exactly as a committee member would (`Verifier.verify_segment`). The proof stands when the
receipt is genuine (signed, on this chain) and the segment, replayed from the miner's own committed
start on the miner's own data order, lands outside the tolerance. An honest receipt cannot be framed:
its segments replay within tolerance, and the openings must prove against its commitments root.

On chain a proof travels as `app.core.types.FraudProof` (tag 14): the same evidence with the two
openings spelled out as (hash, Merkle proof) and the challenger's address for the bounty
(`FraudProof.for_chain`, `evidence_of`). `check_fraud_proof` takes either form; a committee member runs
it on every fraud proof of a proposed block before it votes, as it verifies receipts.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core import types
from app.core.encoding import Record, Uint64
from app.core.errors import InvalidReceipt
from app.core.types import WorkReceipt
from app.pot.proof import CheckpointOpening
from app.pot.verify import Openings, Verdict, Verifier

PROVEN = "fraud-proven"


@dataclass(frozen=True)
class FraudProof(Record):
    """Segment `segment` of `receipt` is wrong; `start`/`end` open its checkpoints `segment`, `segment+1`."""

    TAG = 74
    receipt: WorkReceipt
    segment: Uint64
    start: CheckpointOpening
    end: CheckpointOpening

    def for_chain(self, challenger: bytes) -> types.FraudProof:
        """The on-chain record of this proof, paying the bounty to `challenger` (a 20-byte address)."""
        return types.FraudProof(
            challenger=challenger,
            receipt=self.receipt,
            segment=self.segment,
            start_checkpoint=self.start.checkpoint,
            start_proof=self.start.proof,
            end_checkpoint=self.end.checkpoint,
            end_proof=self.end.proof,
        )


def evidence_of(proof: types.FraudProof) -> FraudProof:
    """The miner-side evidence of an on-chain fraud proof (what `check_fraud_proof` replays)."""
    return FraudProof(
        receipt=proof.receipt,
        segment=proof.segment,
        start=CheckpointOpening(checkpoint=proof.start_checkpoint, proof=proof.start_proof),
        end=CheckpointOpening(checkpoint=proof.end_checkpoint, proof=proof.end_proof),
    )


class _TwoOpenings:
    """Serves exactly the two openings a fraud proof carries."""

    def __init__(self, proof: FraudProof) -> None:
        self._by_index = {proof.segment: proof.start, proof.segment + 1: proof.end}

    def opening(self, index: int) -> CheckpointOpening:
        try:
            return self._by_index[index]
        except KeyError:
            raise InvalidReceipt("bad-opening", f"a fraud proof opens no checkpoint {index}") from None


def make_fraud_proof(receipt: WorkReceipt, segment: int, openings: Openings) -> FraudProof:
    """The proof that `segment` of `receipt` is wrong, from the miner's own openings."""
    return FraudProof(
        receipt=receipt, segment=segment, start=openings.opening(segment), end=openings.opening(segment + 1)
    )


def check_fraud_proof(proof: FraudProof | types.FraudProof, verifier: Verifier) -> Verdict:
    """`Verdict(True, "fraud-proven")` when the proof stands; otherwise why it does not.

    `proof` is the miner's evidence or the on-chain record. `verifier.tasks` must hold the task's view
    of the round the receipt was included in.
    """
    if isinstance(proof, types.FraudProof):
        proof = evidence_of(proof)
    segment = verifier.verify_segment(proof.receipt, _TwoOpenings(proof), proof.segment)
    if segment.accepted:
        return Verdict(False, "segment-correct", f"segment {proof.segment} replays within tolerance")
    if segment.reason in ("segment-mismatch", "loss-mismatch", "malformed-checkpoint"):
        return Verdict(True, PROVEN, segment.detail)
    return Verdict(False, segment.reason, segment.detail)
