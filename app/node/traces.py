"""The trace protocol: a validator asks the miner for the checkpoint trace behind a work receipt.

A receipt commits only to the Merkle root of its checkpoint hashes; to re-execute a segment the
verifier needs the hashes themselves. The answer is checked against the receipt's root before use
(`TrainingTrace.root`), so any peer may answer and a lying one is caught and reported.

The miner keeps its traces (and the receipts it signed with them) on disk, not only in memory: a
miner restarted mid-round must still answer the validators' checks of the receipt it already
gossiped, and must republish that receipt rather than train the round again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from app.core.encoding import Bytes32
from app.core.errors import PotError
from app.core.rewards import REWARD_PENDING
from app.core.tasks import TASK_OPEN
from app.core.types import WorkReceipt
from app.fsutil import write_atomic
from app.net.messages import Request, Response
from app.net.peers import Offence
from app.node.light_state import StateView
from app.pot.proof import TrainingTrace

log = logging.getLogger(__name__)

PROTOCOL_NAME = "trace"
TRACE_DEADLINE_S = 3.0  # a trace is a few hundred bytes: a peer that takes longer is stalling
TRACE_FALLBACK_PEERS = 2  # other peers asked when the publisher does not serve its receipt's trace
# A publisher that stalls the trace of its own receipt gossiped work it cannot back: the penalties of a
# timeout, an invalid message and a bad response (22 points), so the third stall crosses the ban
# threshold (-50), while an honest miner's single hiccup fades with the score's half-life.
STALL_OFFENCES = (Offence.TIMEOUT, Offence.INVALID_GOSSIP, Offence.BAD_RESPONSE)
TRACE_SUFFIX = ".trace"
RECEIPT_SUFFIX = ".receipt"


@dataclass(frozen=True)
class TraceRequest(Request):
    """Ask for the trace whose checkpoint hashes have Merkle root `commitments_root`."""

    TAG = 140
    commitments_root: Bytes32


@dataclass(frozen=True)
class TraceResponse(Response):
    TAG = 141
    trace: TrainingTrace


class TraceStalled(PotError):
    """A peer did not answer a trace request within `TRACE_DEADLINE_S`."""


async def request_trace(
    host,
    peer: str,
    root: bytes,
    deadline_s: float = TRACE_DEADLINE_S,  # type: ignore[no-untyped-def]
    publisher: bool = False,
) -> TrainingTrace:
    """Ask `peer` (a NetHost's peer id) for the trace with commitments root `root`, within `deadline_s`.

    A `publisher` (the peer that gossiped the receipt) that lets the deadline pass is penalised with
    `STALL_OFFENCES`; another peer asked as a fallback only had the chance to help.
    """
    with trio.move_on_after(deadline_s):
        response = await host.request(peer, PROTOCOL_NAME, TraceRequest(root), TraceResponse)
        return response.trace
    if publisher:
        for offence in STALL_OFFENCES:
            host.report(peer, offence)
    raise TraceStalled(f"{peer} did not serve the trace within {deadline_s:g} s")


class TraceBook:
    """The traces this miner can answer for, by commitments root (bounded: old rounds fall out).

    Data availability: a trace whose receipt `retain` says can still be challenged (its reward still
    vests, or its round is still open) never falls out, however many newer rounds came since; an
    auditor may ask for it until the reward vests, and a miner that cannot answer is recorded as
    withholding. The node passes `still_challengeable` against its head state.

    With a `directory`, every trace is also written there atomically as `<root hex>.trace` (and the
    receipt signed with it as `<root hex>.receipt`, written after its trace), so they survive a
    restart; `get` reads a trace back from disk when it is not in memory. A file that does not decode
    or does not hash to its name is ignored (and logged), never served.
    """

    def __init__(
        self, keep: int = 64, directory: Path | None = None, retain: Callable[[WorkReceipt], bool] | None = None
    ) -> None:
        self._traces: dict[bytes, TrainingTrace] = {}
        self._keep = keep
        self._retain = retain
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def add(self, trace: TrainingTrace, receipt: WorkReceipt | None = None) -> None:
        """Keep `trace` (and `receipt`, whose commitments root it must be); durable when a directory is set."""
        root = trace.root
        if receipt is not None and receipt.commitments_root != root:
            raise ValueError("the receipt does not commit to this trace")
        if self.directory is not None:
            write_atomic(self.directory / f"{root.hex()}{TRACE_SUFFIX}", trace.encode(), mode=0o644)
            if receipt is not None:
                write_atomic(self.directory / f"{root.hex()}{RECEIPT_SUFFIX}", receipt.encode(), mode=0o644)
            self._prune_files()
        self._traces[root] = trace
        while len(self._traces) > self._keep:
            self._traces.pop(next(iter(self._traces)))

    def get(self, root: bytes) -> TrainingTrace | None:
        trace = self._traces.get(root)
        if trace is None and self.directory is not None:
            trace = self._read(root)
        return trace

    def receipts(self) -> list[WorkReceipt]:
        """The receipts saved with their traces, oldest first (a restarted miner republishes them)."""
        if self.directory is None:
            return []
        found = []
        for path in self._files(RECEIPT_SUFFIX):
            try:
                receipt = WorkReceipt.decode(path.read_bytes())
            except (OSError, PotError, ValueError) as exc:
                log.warning("ignoring unreadable receipt file %s: %s", path, exc)
                continue
            if (
                receipt.commitments_root.hex() != path.name[: -len(RECEIPT_SUFFIX)]
                or self.get(receipt.commitments_root) is None
            ):
                log.warning("ignoring receipt file %s: it does not match a saved trace", path)
                continue
            found.append(receipt)
        return found

    def _read(self, root: bytes) -> TrainingTrace | None:
        assert self.directory is not None
        path = self.directory / f"{root.hex()}{TRACE_SUFFIX}"
        try:
            trace = TrainingTrace.decode(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, PotError, ValueError) as exc:
            log.warning("ignoring unreadable trace file %s: %s", path, exc)
            return None
        if trace.root != root:
            log.warning("ignoring trace file %s: its checkpoints do not hash to its name", path)
            return None
        return trace

    def _files(self, suffix: str) -> list[Path]:
        assert self.directory is not None
        paths = [p for p in self.directory.iterdir() if p.name.endswith(suffix) and not p.name.startswith(".")]
        return sorted(paths, key=lambda p: (_mtime(p), p.name))

    def _prune_files(self) -> None:
        """Keep the `keep` newest traces on disk (with their receipts)."""
        traces = self._files(TRACE_SUFFIX)
        for old in traces[: max(0, len(traces) - self._keep)]:
            stem = old.name[: -len(TRACE_SUFFIX)]
            if self._retained(self.directory / f"{stem}{RECEIPT_SUFFIX}"):  # type: ignore[operator]
                continue
            for path in (self.directory / f"{stem}{RECEIPT_SUFFIX}", old):  # type: ignore[operator]
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass

    def _retained(self, receipt_path: Path) -> bool:
        if self._retain is None:
            return False
        try:
            receipt = WorkReceipt.decode(receipt_path.read_bytes())
        except (OSError, PotError, ValueError):
            return False  # no (readable) receipt: nothing can challenge it through the chain
        return self._retain(receipt)


def still_challengeable(receipt: WorkReceipt, state: StateView) -> bool:
    """Whether anyone may still challenge `receipt`: its reward is pending (vesting), or it is unpaid while
    its round is open (a node behind the chain sees rounds open longer: the safe side)."""
    reward = state.pending_reward(receipt.receipt_id)
    if reward is not None:
        return reward.status == REWARD_PENDING
    task = state.task(receipt.task_id)
    return task is not None and task.status == TASK_OPEN and task.round <= receipt.round


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime_ns / 1e9
    except OSError:
        return 0.0
