"""Re-computing checkpoints a miner committed to but did not keep on disk (see `app.miner.loop`).

A large model's round keeps only its base, end and latest resume point; the trace still names every
checkpoint's hash. When a verifier challenges segment j, the miner needs c_j and c_{j+1}: it replays
the round from the nearest kept checkpoint before them, with the same seeded batches, in the same
device configuration the receipt commits. That replay is exact (docs/TOLERANCES.md), so the result
hashes to the committed leaf; a mismatch means the configuration differs and is reported, never served.

Several verifiers challenge one receipt, each with its own draw (app/pot/challenge.py), and their requests
reach the miner in any order. A replay towards segment j therefore leaves `Waypoints` behind: the
checkpoints it passes on a fixed grid of the round, as many as their memory budget holds, kept in memory
(never on disk, whose budget is three checkpoints a round) while a committee's requests arrive. A later request for an earlier segment replays from the
nearest waypoint, not from the base again; and the recomputer waits a moment after a first request so
that a committee's burst is answered by one replay.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from app.core.errors import PotError
from app.core.hashing import blob_hash
from app.core.types import TaskSpec
from app.miner.loop import RoundJob
from app.miner.sparse_record import SUFFIX, SparseRound
from app.pot import config
from app.pot.blobs import BlobStore, fetch_verified, put_deferred, sync
from app.pot.datasets import Split, round_seed
from app.pot.engine import Session, run_steps
from app.pot.proof import TrainingTrace, segment_count
from app.pot.tensors import decode_tensors

log = logging.getLogger(__name__)


class RecomputeMismatch(PotError):
    """A re-computed checkpoint does not hash to the trace's leaf (another device configuration)."""


WAYPOINT_BYTES = 768 << 20  # memory for waypoints: about what training an l or xl model itself holds
WAYPOINT_TTL_S = 900.0  # kept this long after they are made: the time a committee's requests take to arrive


class Waypoints:
    """Checkpoints a replay passed, kept in memory for later replays to start from (thread-safe).

    Bounded in bytes (least recently used dropped first) and in time (`ttl_s`): they exist to answer the
    rest of one receipt's challenges, not to keep a round. Each was checked against the trace's hash
    before it was put, so a replay that starts from one starts from exactly the committed state."""

    def __init__(
        self,
        budget_bytes: int = WAYPOINT_BYTES,
        ttl_s: float = WAYPOINT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget_bytes, self.ttl_s, self._clock = budget_bytes, ttl_s, clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()  # digest -> (blob, made at)
        self.size = 0

    def room_for(self, blob_size: int) -> int:
        """How many checkpoints of `blob_size` bytes fit in the budget."""
        return self.budget_bytes // blob_size if blob_size > 0 else 0

    def has(self, digest: bytes) -> bool:
        with self._lock:
            self._expire()
            return digest in self._entries

    def get(self, digest: bytes) -> bytes | None:
        with self._lock:
            self._expire()
            entry = self._entries.get(digest)
            if entry is None:
                return None
            self._entries.move_to_end(digest)
            return entry[0]

    def put(self, digest: bytes, blob: bytes) -> None:
        """Keep `blob` (already checked to hash to `digest`), dropping the least recently used for room."""
        if len(blob) > self.budget_bytes:
            return
        with self._lock:
            self._expire()
            old = self._entries.pop(digest, None)
            self.size -= len(old[0]) if old is not None else 0
            while self._entries and self.size + len(blob) > self.budget_bytes:
                _, (dropped, _made) = self._entries.popitem(last=False)
                self.size -= len(dropped)
            self._entries[digest] = (blob, self._clock())
            self.size += len(blob)

    def _expire(self) -> None:
        now = self._clock()
        for digest in [d for d, (_blob, made) in self._entries.items() if now - made > self.ttl_s]:
            self.size -= len(self._entries.pop(digest)[0])


def nearest_kept(store: BlobStore, trace: TrainingTrace, index: int, waypoints: Waypoints | None = None) -> int:
    """The largest j <= index whose checkpoint is in `store` or `waypoints` (the base, index 0, at least)."""
    for j in range(index, -1, -1):
        if _held(store, trace.checkpoints[j], waypoints):
            return j
    raise RecomputeMismatch(f"not even the base checkpoint {trace.checkpoints[0].hex()[:16]} is in the store")


def replay_plan(
    store: BlobStore, trace: TrainingTrace, wanted: Iterable[int], waypoints: Waypoints | None = None
) -> tuple[int, list[int]]:
    """(the index a replay for `wanted` starts from, the wanted indices neither in `store` nor held as
    waypoints); (0, []) when none is missing. The replay then runs segments start..missing[-1]-1: what
    answering `wanted` costs."""
    missing = sorted(i for i in set(wanted) if not _held(store, trace.checkpoints[i], waypoints))
    if not missing:
        return 0, []
    return nearest_kept(store, trace, missing[0], waypoints), missing


def _held(store: BlobStore, digest: bytes, waypoints: Waypoints | None) -> bool:
    return store.has(digest) or waypoints is not None and waypoints.has(digest)


def _read_checkpoint(store: BlobStore, digest: bytes, waypoints: Waypoints | None) -> bytes | None:
    """The checkpoint's bytes from the store (hash-checked) or the waypoints; None when neither holds it."""
    if store.has(digest):
        return fetch_verified(store, digest, "checkpoint")
    return waypoints.get(digest) if waypoints is not None else None


def waypoint_indices(start: int, end: int, room: int, segments: int) -> set[int]:
    """The indices strictly between `start` and `end` on the round's grid of `room` waypoints: multiples of
    ceil(segments / (room + 1)). A fixed grid, not one spread over each replay's own range, so the short
    replays that follow the first never push out the waypoints that the whole round's requests use: any
    later request replays at most one grid step (bench/bench_recompute.py compares the two)."""
    if room <= 0 or end - start < 2:
        return set()
    step = -(-segments // (room + 1))
    return set(range((start // step + 1) * step, end, step))


def recompute_checkpoints(
    job: RoundJob,
    miner: bytes,
    store: BlobStore,
    data: Split,
    trace: TrainingTrace,
    indices: Iterable[int],
    device: torch.device,
    device_class: str | None = None,
    waypoints: Waypoints | None = None,
) -> dict[int, bytes]:
    """The blobs of checkpoints `indices` of the round `job` that miner `miner` trained, stored in `store`.

    Kept ones are read back; the others are replayed forward from the nearest kept one (or waypoint), in
    one pass for all of them, each checked against `trace` before it is stored (deferred, then one sync).
    `device_class`: the receipt's; when this process reproduces it, the replay runs in it (its thread
    count), as a verifier's exact replay does. `waypoints`: where the replay may start, and where it
    leaves the checkpoints it passes on the round's grid (`waypoint_indices`), checked against `trace` too."""
    spec = job.spec
    n = segment_count(spec)
    if len(trace.checkpoints) != n + 1:
        raise ValueError(f"the trace has {len(trace.checkpoints)} checkpoints, the task {n + 1}")
    wanted = sorted(set(indices))
    if any(not 0 <= i <= n for i in wanted):
        raise ValueError(f"checkpoint indices {wanted} outside 0..{n}")
    out: dict[int, bytes] = {}
    for i in wanted:
        blob = _read_checkpoint(store, trace.checkpoints[i], waypoints)
        if blob is not None:
            if not store.has(trace.checkpoints[i]):
                put_deferred(store, blob)  # a waypoint asked for: served as it is (checked when it was made)
            out[i] = blob
    missing = [i for i in wanted if i not in out]
    if not missing:
        sync(store)
        return out
    start = nearest_kept(store, trace, missing[0], waypoints)
    k = spec.checkpoint_interval
    seed = round_seed(job.anchor_block_hash, miner, job.task_id, job.round)
    first = _read_checkpoint(store, trace.checkpoints[start], waypoints)
    if first is None:  # the waypoint expired between the two reads: start from the disk's nearest instead
        start = nearest_kept(store, trace, missing[0])
        first = fetch_verified(store, trace.checkpoints[start], "checkpoint")
    session = Session(spec, device)
    session.load(decode_tensors(first))
    data = data.to(device)
    declared = config.parse(device_class) if device_class is not None else None
    exact = declared is not None and config.reproducible(config.current(device), declared)
    with config.replaying(declared) if exact else contextlib.nullcontext():  # type: ignore[arg-type]
        _replay(session, data, seed, k, start, missing, trace, store, out, waypoints)
    sync(store)
    return out


def _replay(
    session: Session,
    data: Split,
    seed: bytes,
    k: int,
    start: int,
    missing: list[int],
    trace: TrainingTrace,
    store: BlobStore,
    out: dict[int, bytes],
    waypoints: Waypoints | None,
) -> None:
    loss_sum = torch.zeros((), device=session.device)
    passing: set[int] = set()
    for j in range(start, missing[-1]):
        run_steps(session, data, seed, j * k, (j + 1) * k, loss_sum)
        if j == start and waypoints is not None:  # the optimiser's state exists now: a checkpoint's full size
            tensors = sum(t.numel() * t.element_size() for t in session.live_state().values())
            size = tensors + tensors // 50 + 4096  # and the blob's header: the room is not overcounted
            passing = waypoint_indices(start, missing[-1], waypoints.room_for(size), len(trace.checkpoints) - 1)
        if j + 1 not in missing and j + 1 not in passing:
            continue
        blob = session.checkpoint_blob()
        if blob_hash(blob) != trace.checkpoints[j + 1]:
            raise RecomputeMismatch(
                f"checkpoint {j + 1} re-computed on {session.device.type} does not match "
                "the trace: not the receipt's device configuration"
            )
        if j + 1 in missing:
            put_deferred(store, blob)
            out[j + 1] = blob
        elif waypoints is not None:
            waypoints.put(trace.checkpoints[j + 1], blob)


# ---------------------------------------------------------------------- serving dropped checkpoints

RETRY_AFTER_S = 2.0  # what a verifier is told while a checkpoint is being re-computed
GATHER_S = 2.0  # a first request waits this long for the rest of a burst (one replay answers them all):
# a verifier asks for its whole draw at once (`app.node.work`), and a committee's verifiers within about
# the gossip's spread of one another
FORGET_FAILED_S = 600.0  # a record that failed to re-compute is not tried again for this long


@dataclass(frozen=True)
class _Dropped:
    record: Path  # the SparseRound file
    index: int  # the checkpoint's position in the round's trace


class CheckpointRecomputer:
    """Answers a blob request for a checkpoint this miner committed to but did not keep.

    The node's blob server asks `pending(digest)` when a digest is not in the store: None means this
    miner never dropped such a checkpoint (the request is answered "not found"); a number means a
    re-computation is queued or running and the verifier should ask again after that many seconds
    (`app.net.errors.BlobPending`). One background thread re-computes, one round at a time, so a flood of
    requests costs one replay, not many. The records are read from `records` (`sparse_dir`), rescanned
    when the folder changes. A record whose replay does not reproduce the committed hashes (another device
    configuration, a damaged record) is reported in the log and answered "not found" from then on: a
    checkpoint that cannot be reproduced is never served.
    """

    def __init__(
        self,
        records: Path,
        store: BlobStore,
        dataset: Callable[[TaskSpec], Split],
        device: Callable[[str], torch.device] | None = None,
        clock: Callable[[], float] = time.monotonic,
        waypoints: Waypoints | None = None,
        gather_s: float = GATHER_S,
    ) -> None:
        self.records = Path(records)
        self.store = store
        self._dataset = dataset
        self._device = device or device_for_class
        self._clock = clock
        self._lock = threading.Lock()
        self._index: dict[bytes, _Dropped] = {}
        self._scanned: tuple[int, int] | None = None
        self._queued: dict[bytes, _Dropped] = {}  # digest -> where it is (waiting or being re-computed)
        self._failed: dict[Path, float] = {}
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._thread: threading.Thread | None = None
        self.done = 0  # checkpoints re-computed and stored (for status and tests)
        self.segments_replayed = 0  # what answering them cost, in segments of training
        self.waypoints = waypoints if waypoints is not None else Waypoints()
        self.gather_s = gather_s

    def pending(self, digest: bytes) -> float | None:
        """Seconds after which `digest` may be served, or None when it is not a dropped checkpoint of ours."""
        with self._lock:
            if digest in self._queued:
                return RETRY_AFTER_S
            self._rescan()
            dropped = self._index.get(digest)
            if dropped is None or self._clock() < self._failed.get(dropped.record, -1.0):
                return None
            self._queued[digest] = dropped
            self._start()
            self._wake.notify()
            return RETRY_AFTER_S

    def close(self) -> None:
        """Stop the thread after the replay in progress (if any)."""
        with self._lock:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(30)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pot-recompute", daemon=True)
            self._thread.start()

    def _rescan(self) -> None:
        try:
            st = self.records.stat()
        except OSError:
            return
        stamp = (st.st_mtime_ns, st.st_nlink)
        if stamp == self._scanned:
            return
        self._scanned = stamp
        index: dict[bytes, _Dropped] = {}
        for path in sorted(self.records.glob("*" + SUFFIX)):
            record = _read(path)
            if record is None:
                continue
            if not any(self.store.has(c) for c in record.state.checkpoints):
                path.unlink(missing_ok=True)  # the disk pruner dropped the round's blobs: no longer challengeable
                continue
            for i, digest in enumerate(record.state.checkpoints):
                index.setdefault(digest, _Dropped(path, i))
        self._index = index

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queued and not self._closed:
                    self._wake.wait()
                gathered_by = time.monotonic() + self.gather_s  # the rest of a burst joins this replay
                while not self._closed and (left := gathered_by - time.monotonic()) > 0:
                    self._wake.wait(left)
                if self._closed:
                    return
                record_path = next(iter(self._queued.values())).record
                wanted = {d: x.index for d, x in self._queued.items() if x.record == record_path}
            self._replay(record_path, wanted)
            with self._lock:
                for digest in wanted:
                    self._queued.pop(digest, None)

    def _replay(self, path: Path, wanted: dict[bytes, int]) -> None:
        record = _read(path)
        try:
            if record is None:
                raise RecomputeMismatch(f"the record {path.name} cannot be read")
            state = record.state
            job = RoundJob(state.chain_id, state.task_id, record.spec, state.round, state.anchor, state.base_checkpoint)
            trace = TrainingTrace(
                checkpoints=state.checkpoints, samples=record.spec.local_steps * record.spec.batch_size
            )
            started = self._clock()
            indices = sorted(set(wanted.values()))
            start, missing = replay_plan(self.store, trace, indices, self.waypoints)
            recompute_checkpoints(
                job,
                state.miner,
                self.store,
                self._dataset(record.spec),
                trace,
                indices,
                self._device(record.device_class),
                record.device_class or None,
                self.waypoints,
            )
            self.done += len(wanted)
            replayed = missing[-1] - start if missing else 0
            self.segments_replayed += replayed
            log.info(
                "re-computed checkpoint(s) %s of round %d for a verifier in %.1f s (%d segments from checkpoint %d)",
                indices,
                state.round,
                self._clock() - started,
                replayed,
                start,
            )
        except Exception as exc:  # noqa: BLE001 - any failure: not served, said in the log, not retried at once
            log.error("cannot re-compute checkpoints of %s for a verifier: %s", path.name, exc)
            with self._lock:
                self._failed[path] = self._clock() + FORGET_FAILED_S


def _read(path: Path) -> SparseRound | None:
    try:
        return SparseRound.decode(path.read_bytes())
    except (OSError, PotError) as exc:
        log.warning("ignoring the sparse round record %s: %s", path.name, exc)
        return None


def device_for_class(device_class: str) -> torch.device:
    """The device a receipt's class says it trained on, when this machine has one; else the CPU (whose
    replay is then refused by the hash check, never served)."""
    kind = config.parse(device_class).device_class if device_class else "cpu"
    if kind == "cuda" and torch.cuda.is_available():
        return torch.device("cuda")
    if kind == "mps" and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
