"""Fraud proofs: anyone who re-executes a segment of an included receipt can show it was wrong.

A miner's reward vests after a challenge window (DESIGN.md). During it, a `FraudProof` names the
receipt and one segment with the two checkpoint openings that bound it; checking it re-executes that
segment exactly as a committee member would (`Verifier.verify_segment`). The proof stands when the
receipt is genuine (signed, on this chain) and the segment, replayed from the miner's own committed
start on the miner's own data order, lands outside the tolerance. An honest receipt cannot be framed:
its segments replay within tolerance, and the openings must prove against its commitments root.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.encoding import Record, Uint64
from app.core.errors import InvalidReceipt
from app.core.types import WorkReceipt
from app.miner.proof import CheckpointOpening
from app.miner.verify import Openings, Verdict, Verifier

PROVEN = "fraud-proven"


@dataclass(frozen=True)
class FraudProof(Record):
    """Segment `segment` of `receipt` is wrong; `start`/`end` open its checkpoints `segment`, `segment+1`."""

    TAG = 74
    receipt: WorkReceipt
    segment: Uint64
    start: CheckpointOpening
    end: CheckpointOpening


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
    return FraudProof(receipt=receipt, segment=segment, start=openings.opening(segment), end=openings.opening(segment + 1))


def check_fraud_proof(proof: FraudProof, verifier: Verifier) -> Verdict:
    """`Verdict(True, "fraud-proven")` when the proof stands; otherwise why it does not.

    `verifier.tasks` must hold the task's view of the round the receipt was included in.
    """
    segment = verifier.verify_segment(proof.receipt, _TwoOpenings(proof), proof.segment)
    if segment.accepted:
        return Verdict(False, "segment-correct", f"segment {proof.segment} replays within tolerance")
    if segment.reason in ("segment-mismatch", "loss-mismatch", "malformed-checkpoint"):
        return Verdict(True, PROVEN, segment.detail)
    return Verdict(False, segment.reason, segment.detail)
