"""What a miner keeps of a round whose checkpoints it did not all store, so it can re-compute them.

A large model's round keeps only its base and end checkpoints on disk (`app.miner.loop`); the receipt
still commits to every checkpoint's hash. To answer a verifier who challenges a dropped one, the
miner's node must replay the round, which needs the round's identity (task, round, anchor, base), the
task's spec (model, optimiser, batches), the receipt's device configuration and the committed hashes.
`SparseRound` is that record: a small CBOR file per receipt, written atomically at the end of the round
into a folder beside the resume folder (`sparse_dir`), named by the receipt's commitments root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.core.encoding import Record, ShortText
from app.core.types import TaskSpec
from app.fsutil import write_atomic
from app.miner.resume import RoundState

SUFFIX = ".sparse"


@dataclass(frozen=True)
class SparseRound(Record):
    """A finished round with dropped checkpoints: `state.checkpoints` are all of them (base first)."""

    TAG = 155
    state: RoundState  # the round's identity; `step` = local_steps
    spec: TaskSpec
    device_class: ShortText  # the receipt's: the replay runs in it when this machine reproduces it


def sparse_dir(resume_dir: Path) -> Path:
    """Where the sparse rounds of the miner whose resume folder is `resume_dir` are recorded."""
    resume_dir = Path(resume_dir)
    return resume_dir.with_name(resume_dir.name + "-sparse")


def record_sparse_round(resume_dir: Path, commitments_root: bytes, record: SparseRound) -> Path:
    """Write `record` durably (before the receipt that needs it goes out); returns its path."""
    folder = sparse_dir(resume_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (commitments_root.hex() + SUFFIX)
    write_atomic(path, record.encode(), mode=0o644)
    return path
