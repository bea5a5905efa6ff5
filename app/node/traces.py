"""The trace protocol: a validator asks the miner for the checkpoint trace behind a work receipt.

A receipt commits only to the Merkle root of its checkpoint hashes; to re-execute a segment the
verifier needs the hashes themselves. The answer is checked against the receipt's root before use
(`TrainingTrace.root`), so any peer may answer and a lying one is caught and reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.encoding import Bytes32
from app.miner.proof import TrainingTrace
from app.net.messages import Request, Response

PROTOCOL_NAME = "trace"


@dataclass(frozen=True)
class TraceRequest(Request):
    """Ask for the trace whose checkpoint hashes have Merkle root `commitments_root`."""

    TAG = 140
    commitments_root: Bytes32


@dataclass(frozen=True)
class TraceResponse(Response):
    TAG = 141
    trace: TrainingTrace


class TraceBook:
    """The traces this miner can answer for, by commitments root (bounded: old rounds fall out)."""

    def __init__(self, keep: int = 64) -> None:
        self._traces: dict[bytes, TrainingTrace] = {}
        self._keep = keep

    def add(self, trace: TrainingTrace) -> None:
        self._traces[trace.root] = trace
        while len(self._traces) > self._keep:
            self._traces.pop(next(iter(self._traces)))

    def get(self, root: bytes) -> TrainingTrace | None:
        return self._traces.get(root)
