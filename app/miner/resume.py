"""On-disk state of an unfinished round, so mining can stop and start without losing the round's work.

The state is a small CBOR record (`round.cbor`) naming the round and the step reached, plus the
tensors at that step: a checkpoint blob already in the blob store when the step is a checkpoint,
otherwise a file `state-<hash>.safetensors` next to the record. Both are written atomically (temp file,
fsync, rename, fsync of the folder); the tensors first, under a name that is their hash, so a crash
at any moment leaves either the old or the new state, and the record's hash check catches anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import torch

from app.core.encoding import Bytes32, MaxLen, Record, ShortText, Uint64
from app.core.errors import EncodingError, InvalidReceipt
from app.core.hashing import ZERO_HASH, blob_hash
from app.core.types import WorkReceipt
from app.filelock import exclusive
from app.fsutil import write_atomic
from app.pot.proof import MAX_CHECKPOINTS
from app.pot.tensors import decode_tensors, encode_tensors

RECORD = "round.cbor"
FINISHED = "finished.cbor"
LOCK = "round.lock"
# How long a worker waits for another process training in the same folder: a killed daemon's orphaned
# worker stops at its next step and saves (seconds; a large model's step and save can take tens of them).
HOLD_WAIT_S = 120.0


@dataclass(frozen=True)
class RoundState(Record):
    """Where an unfinished round stands. `state_file` is zero when the step is a checkpoint."""

    TAG = 73
    chain_id: ShortText
    task_id: Bytes32
    round: Uint64
    miner: Bytes32
    base_checkpoint: Bytes32
    anchor: Bytes32
    step: Uint64
    checkpoints: Annotated[tuple[Bytes32, ...], MaxLen(MAX_CHECKPOINTS + 1)]
    state_file: Bytes32

    def same_round(self, other: "RoundState") -> bool:
        keys = ("chain_id", "task_id", "round", "miner", "base_checkpoint", "anchor")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


@dataclass(frozen=True)
class FinishedRound(Record):
    """A round trained to its last step, kept until the next round: if the daemon dies before it records
    the receipt, the restarted worker hands the same result back instead of retraining from step 0.
    Its blobs (checkpoints, update) were made durable before this record was written."""

    TAG = 79
    state: RoundState  # the round's identity, `step` = local_steps
    receipt: WorkReceipt  # as the loop made it (unsigned in the worker: the parent holds the key)
    samples: Uint64
    update_hash: Bytes32


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves the old file or the new one, never a mix."""
    write_atomic(path, data, mode=0o644)


class ResumeDir:
    """The folder holding one miner's unfinished round (at most one at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def hold(
        self,
        *,
        wait_s: float = HOLD_WAIT_S,
        give_up: Callable[[], bool] = lambda: False,
    ) -> AbstractContextManager[None]:
        """Be this folder's only writer for the block (see app.filelock): taken before reading the saved
        state, so a round resumes from what the last writer saved, not from what it was about to."""
        return exclusive(self.path / LOCK, wait_s=wait_s, give_up=give_up)

    def save(self, state: RoundState, tensors: dict[str, torch.Tensor] | None) -> None:
        """Persist `state`; `tensors` are required unless the step is a stored checkpoint."""
        if tensors is not None:
            data = encode_tensors(tensors)
            digest = blob_hash(data)
            atomic_write(self.path / f"state-{digest.hex()}.safetensors", data)
            state = state.replace(state_file=digest)
        else:
            state = state.replace(state_file=ZERO_HASH)
        atomic_write(self.path / RECORD, state.encode())
        self._prune(keep=state.state_file)

    def load(self) -> tuple[RoundState, dict[str, torch.Tensor] | None] | None:
        """The saved state and its mid-segment tensors (None at a checkpoint); None if nothing usable."""
        try:
            state = RoundState.decode((self.path / RECORD).read_bytes())
        except (FileNotFoundError, EncodingError):
            return None
        if state.state_file == ZERO_HASH:
            return state, None
        try:
            data = (self.path / f"state-{state.state_file.hex()}.safetensors").read_bytes()
            if blob_hash(data) != state.state_file:
                return None
            return state, decode_tensors(data)
        except (FileNotFoundError, InvalidReceipt):
            return None

    def finish(self, finished: FinishedRound) -> None:
        """Replace the unfinished round's state by its result (one atomic write, then the old files go)."""
        atomic_write(self.path / FINISHED, finished.encode())
        (self.path / RECORD).unlink(missing_ok=True)
        self._prune(keep=None)

    def load_finished(self, fresh: RoundState) -> FinishedRound | None:
        """The kept result of the round `fresh` names, or None (none, another round's, or damaged)."""
        try:
            finished = FinishedRound.decode((self.path / FINISHED).read_bytes())
        except (FileNotFoundError, EncodingError):
            return None
        return finished if finished.state.same_round(fresh) else None

    def clear(self) -> None:
        (self.path / RECORD).unlink(missing_ok=True)
        (self.path / FINISHED).unlink(missing_ok=True)
        self._prune(keep=None)

    def _prune(self, keep: bytes | None) -> None:
        for f in self.path.glob("state-*.safetensors"):
            if keep is None or f.name != f"state-{keep.hex()}.safetensors":
                f.unlink(missing_ok=True)
