"""Bounded disk: the data folder's size (for the cap and the Settings page) and the pruning of blobs
that can no longer be challenged.

What a miner writes grows without end otherwise: every round leaves its checkpoints (one every
`checkpoint_interval` steps) in the node's blob store. A blob stays while something may still need it:

* the checkpoints named by the trace of a receipt that can still be challenged: its reward is still
  pending (vesting), or it is not paid yet while its round is still open (a validator's challenge
  is answered from these blobs). Once the reward has vested (or was clawed back), or the round
  closed without paying it, nothing can challenge it any more. The receipt's update blob follows the
  same rule. A trace saved without its receipt is kept;
* every task's current checkpoint (the next round's base, or the finished task's result) and, for
  open tasks, the initial checkpoint, the dataset shards and the validation shard;
* the shipped demo datasets (every node seeds them at start);
* the round being trained: the checkpoints named by the resume record;
* anything written or fetched in the last `grace_s` seconds (a round being prepared, a blob another
  peer is fetching from us, a trace not yet written).

Everything else is deleted, oldest first. `prunable` is the pure decision; `BlobPruner` applies it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.blobstore import BlobStore

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 15 * 60.0
SIZE_REFRESH_S = 20.0


def folder_size(path: Path) -> int:
    """Bytes in the files under `path` (apparent sizes; links not followed; vanishing files skipped)."""
    total = 0
    stack = [Path(path)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


class DiskMeter:
    """The data folder's size, measured at most every `refresh_s` (walking the folder is not free)."""

    def __init__(self, folder: Path, refresh_s: float = SIZE_REFRESH_S, clock: Callable[[], float] = time.monotonic):
        self.folder = Path(folder)
        self._refresh_s = refresh_s
        self._clock = clock
        self._size: int | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def used(self) -> int:
        with self._lock:
            now = self._clock()
            if self._size is None or now - self._at >= self._refresh_s:
                self._size, self._at = folder_size(self.folder), now
            return self._size

    def invalidate(self) -> None:
        """Measure again at the next `used()` (after pruning)."""
        with self._lock:
            self._size = None


@dataclass(frozen=True)
class BlobEntry:
    digest: bytes
    size: int
    mtime: float  # unix seconds of the last write


@dataclass(frozen=True)
class PruneResult:
    removed: int
    freed_bytes: int
    kept: int
    kept_bytes: int


def prunable(entries: Iterable[BlobEntry], pinned: set[bytes], now: float, grace_s: float) -> list[BlobEntry]:
    """The blobs to delete, oldest first: not pinned and older than the grace period."""
    old = [e for e in entries if e.digest not in pinned and now - e.mtime >= grace_s]
    return sorted(old, key=lambda e: (e.mtime, e.digest))


def blob_entries(store: BlobStore) -> list[BlobEntry]:
    out = []
    for digest in store:
        try:
            st = os.stat(store.path_of(digest))
        except OSError:
            continue
        out.append(BlobEntry(digest, st.st_size, st.st_mtime))
    return out


class BlobPruner:
    """Deletes what `prunable` selects in one store; `pins` is read at each run (it follows the chain)."""

    def __init__(
        self,
        store: BlobStore,
        pins: Callable[[], set[bytes]],
        grace_s: float = DEFAULT_GRACE_S,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._pins = pins
        self._grace_s = grace_s
        self._wall = wall
        self._lock = threading.Lock()

    def prune(self) -> PruneResult:
        with self._lock:
            pinned = self._pins()
            entries = blob_entries(self.store)
            doomed = prunable(entries, pinned, self._wall(), self._grace_s)
            removed = freed = 0
            for entry in doomed:
                if self.store.delete(entry.digest):
                    removed += 1
                    freed += entry.size
            kept = len(entries) - removed
            kept_bytes = sum(e.size for e in entries) - freed
        if removed:
            log.info(
                "disk: removed %d blobs no longer challengeable (%.1f MB freed, %d kept)", removed, freed / 1e6, kept
            )
        return PruneResult(removed, freed, kept, kept_bytes)


def chain_pins(state: Any, shards: Callable[[bytes], tuple[bytes, ...]] | None = None) -> set[bytes]:
    """Blobs the chain still needs: each task's current checkpoint, and an open task's inputs.

    `shards` maps a dataset root to its shard hashes (the node's manifest book, which knows requesters'
    own data sets too); without it only shipped data sets are known."""
    from app.core.tasks import TASK_OPEN

    pins: set[bytes] = set()
    for task in state.tasks().values():
        pins.add(task.checkpoint)
        if task.status == TASK_OPEN:
            spec = task.spec
            pins.update((spec.initial_checkpoint, spec.validation_shard, spec.dataset_root))
            pins.update((shards or _shards)(spec.dataset_root))
    return pins


def _shards(dataset_root: bytes) -> tuple[bytes, ...]:
    from app.miner.demo import manifest_for_root

    try:
        return tuple(manifest_for_root(dataset_root).shards)
    except Exception:  # an unknown dataset: nothing of it is stored here anyway
        return ()


def shipped_pins() -> set[bytes]:
    """The shipped demo datasets' blobs (every node seeds them at start)."""
    from app.miner.demo import demo_datasets

    return {digest for d in demo_datasets().values() for digest in d.files}


def challengeable(receipt: Any, state: Any) -> bool:
    """Whether a validator may still challenge `receipt`: its reward is pending, or it is unpaid while its
    round is open (a node behind the chain sees rounds open longer: the safe side)."""
    from app.core.rewards import REWARD_PENDING
    from app.core.tasks import TASK_OPEN

    reward = state.pending_reward(receipt.receipt_id)
    if reward is not None:
        return bool(reward.status == REWARD_PENDING)
    task = state.task(receipt.task_id)
    return task is not None and task.status == TASK_OPEN and task.round <= receipt.round


def trace_pins(trace_dir: Path, state: Any) -> set[bytes]:
    """The checkpoints named by the kept traces whose receipts can still be challenged."""
    from app.core.types import WorkReceipt
    from app.pot.proof import TrainingTrace

    pins: set[bytes] = set()
    try:
        paths = [p for p in Path(trace_dir).iterdir() if p.name.endswith(".trace")]
    except OSError:
        return pins
    for path in paths:
        try:
            trace = TrainingTrace.decode(path.read_bytes())
        except Exception:  # an unreadable trace pins nothing; the TraceBook ignores it too
            continue
        try:
            receipt = WorkReceipt.decode(path.with_name(path.name[: -len(".trace")] + ".receipt").read_bytes())
        except Exception:  # no receipt saved with it: keep its checkpoints
            pins.update(trace.checkpoints)
            continue
        if challengeable(receipt, state):
            pins.update(trace.checkpoints)
            pins.add(receipt.update_hash)  # the round's update: aggregated, and a fraud proof may name it
    return pins


def resume_pins(resume_dir: Path) -> set[bytes]:
    """The checkpoints of the round being trained (its resume record)."""
    from app.miner.resume import RECORD, RoundState

    try:
        state = RoundState.decode((Path(resume_dir) / RECORD).read_bytes())
    except Exception:  # no record (no round in progress) or a damaged one the miner discards too
        return set()
    return {state.base_checkpoint, *state.checkpoints}


class DiskKeeper:
    """A thread that prunes every `interval_s` (sooner when the folder is over its cap) and keeps the
    meter fresh; `stop()` ends it."""

    def __init__(
        self, meter: DiskMeter, pruner: BlobPruner | None, cap_bytes: Callable[[], int | None], interval_s: float = 60.0
    ) -> None:
        self.meter = meter
        self.pruner = pruner
        self._cap_bytes = cap_bytes
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk", daemon=True)
        self.last: PruneResult | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def run_once(self) -> PruneResult | None:
        if self.pruner is not None:
            try:
                self.last = self.pruner.prune()
            except Exception:  # a disk hiccup must not end the thread; the log says what
                log.exception("disk: pruning failed")
        self.meter.invalidate()
        return self.last

    def facts(self) -> dict[str, Any]:
        """For `mine.state` and the Settings page: the folder, its size and its cap."""
        return {
            "data_dir": str(self.meter.folder),
            "disk_used_bytes": self.meter.used(),
            "disk_cap_bytes": self._cap_bytes(),
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            cap = self._cap_bytes()
            over = cap is not None and self.meter.used() >= cap
            self._stop.wait(min(10.0, self._interval_s) if over else self._interval_s)
