"""One round of proof-of-training work: H local steps from W_r, checkpoints every k, a signed receipt.

`train_round` trains segment by segment. After each segment it stores the checkpoint blob (parameters
plus optimiser state), and every `RESUME_SAVE_INTERVAL_S` records where the round stands in the
`ResumeDir` (so a crash loses little); when `should_pause()`
turns true between two steps it saves the exact mid-segment state and returns `Paused`. Called again
with the same job it continues from that step, and the result is bit-for-bit the one an uninterrupted
run gives (the batches depend only on the seed and the step index). At the end it stores the update
blob (W' - W_r, parameters only) and makes the receipt: signed when given the miner's signing key,
unsigned when given only its public key (the training worker process, whose parent signs).

Checkpoint and update blobs are stored deferred (`blobs.put_hashed`: renamed into place, not fsynced)
and made durable by a `blobs.sync` pass right before something durable names them: a resume record
(periodic or pause) and the receipt. A power cut can lose unsynced blobs, but nothing durable refers
to them yet, so the round resumes from the last resume record and recomputes them bit for bit. A
background thread fsyncs each stored checkpoint soon after it is written, so that pass finds little
left to wait for.

A large model's checkpoints need not all be kept (`keep_every`, `keeps_every_checkpoint`): H/k
checkpoints with optimiser state would be gigabytes per round. The trace still commits to every checkpoint's hash, but the disk
holds only the base, the end and the latest resume point (the one the resume record names; the one
before it is dropped once a newer record is saved). A challenged checkpoint is re-computed from the
nearest kept one (`app.miner.recompute`): exact on the receipt's device configuration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch

from app.core import crypto
from app.core.hashing import ZERO_HASH, blob_hash
from app.core.types import TaskSpec, WorkReceipt
from app.miner.resume import FinishedRound, ResumeDir, RoundState, atomic_write
from app.miner.sparse_record import SparseRound, record_sparse_round
from app.pot import config, optim
from app.pot.blobs import BlobStore, discard, fetch_verified, put_hashed, sync
from app.pot.datasets import Split, round_seed
from app.pot.engine import Session, run_steps, update_tensors
from app.pot.proof import TrainingTrace, make_receipt, miner_public_key, segment_count, sign_if_key
from app.pot.tensors import EncodeBuffer, decode_tensors, encode_tensors

LOSS_SUM = "loop.loss_sum"  # extra tensor in a mid-segment resume file
CONFIG_FILE = "config.label"  # the device configuration a paused round ran in (app.pot.config)
# A crash (not a pause: a pause always saves) loses at most this much work; saving the resume record
# at every checkpoint would cost fsyncs (the record's and the blobs' it names) per k steps, a
# measurable share of a small model's round.
RESUME_SAVE_INTERVAL_S = 30.0
# From this checkpoint size up, the miner keeps the base, the end and one resume point per round, not
# all H/k checkpoints (disk per round <= 3 checkpoints); smaller ones are all kept, so a challenge is
# served from disk without re-computing (the registry's demo models are well under it).
SPARSE_FROM_BYTES = 32 * 1024 * 1024


def keeps_every_checkpoint(blob_size: int, threshold: int = SPARSE_FROM_BYTES) -> bool:
    """Whether a round whose checkpoints are `blob_size` bytes keeps all of them on disk."""
    return blob_size < threshold


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the round's work is worthless and no receipt is made."""

    def __init__(self, step: int) -> None:
        super().__init__(f"training diverged (non-finite loss) before step {step}")
        self.step = step


@dataclass(frozen=True)
class RoundJob:
    """What the chain says this round is: the task, its round number, base checkpoint and anchor block."""

    chain_id: str
    task_id: bytes
    spec: TaskSpec
    round: int
    anchor_block_hash: bytes
    base_checkpoint: bytes


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int
    loss: float
    samples_per_s: float


@dataclass(frozen=True)
class Paused:
    """The round stopped between steps; its state is on disk and `train_round` continues it."""

    step: int


@dataclass(frozen=True)
class RoundOutput:
    receipt: WorkReceipt
    trace: TrainingTrace
    update_hash: bytes


def train_round(
    job: RoundJob,
    key: crypto.SigningKey | bytes,
    store: BlobStore,
    data: Split,
    *,
    device: torch.device,
    resume: ResumeDir,
    progress: Callable[[Progress], None] | None = None,
    should_pause: Callable[[], bool] | None = None,
    after_step: Callable[[], None] | None = None,
    report_every: int = 10,
    keep_every: bool | None = None,
) -> RoundOutput | Paused:
    """Train (or continue) the round `job` for the miner `key`.

    `key` is the miner's signing key (the receipt comes signed) or only its public key, which seeds the
    data order all the same (the receipt comes unsigned, for the key's holder to sign: the training
    worker process never holds the secret key).

    `keep_every`: keep every checkpoint on disk (True), only the base, end and resume point (False),
    or decide by the checkpoint's size (None, the default: `keeps_every_checkpoint`). A round that drops
    checkpoints leaves a `SparseRound` record beside `resume`, from which the node's blob server
    re-computes a challenged checkpoint on request (`app.miner.recompute.CheckpointRecomputer`)."""
    spec = job.spec
    k = spec.checkpoint_interval
    segment_count(spec)  # rejects a spec whose H is not a multiple of k
    miner = miner_public_key(key)
    seed = round_seed(job.anchor_block_hash, miner, job.task_id, job.round)
    base = decode_tensors(fetch_verified(store, job.base_checkpoint, "base checkpoint"))
    fresh = fresh_round_state(job, miner)
    done = resume.load_finished(fresh)
    if done is not None:  # trained to the end before a crash that came ahead of the recorded receipt
        trace = TrainingTrace(checkpoints=done.state.checkpoints, samples=done.samples)
        return RoundOutput(sign_if_key(done.receipt, key), trace, done.update_hash)
    state, tensors = _restore(resume, fresh)
    # The configuration is committed (so verifiers replay it bit for bit) only when the whole round ran
    # in it: a round resumed in another configuration (other threads, another torch) commits its class.
    started = config.current(device) if state.step == 0 else _paused_config(resume, device)
    session, loss_sum = _open_session(spec, device, store, state, tensors, base)
    data = data.to(device)
    meter = _Meter(spec.batch_size, spec.local_steps, report_every, progress)
    step_hook = meter.on_step if after_step is None else _chain(meter.on_step, after_step)
    writer = _CheckpointWriter(store, resume, state, keep_every)
    step = state.step
    try:
        while step < spec.local_steps:
            seg_end = (step // k + 1) * k
            step = run_steps(session, data, seed, step, seg_end, loss_sum, step_hook, should_pause)
            if step < seg_end:  # asked to pause between two steps
                checkpoints = writer.drain()
                writer.keep_latest()  # the pause's record names the latest checkpoint: it must be on disk
                sync(store)  # the resume record names these checkpoints
                atomic_write(resume.path / CONFIG_FILE, started.label().encode())
                _save_paused(resume, state.replace(step=step, checkpoints=tuple(checkpoints)), session, loss_sum, k)
                writer.advance_point(checkpoints[-1])
                return Paused(step)
            if not bool(torch.isfinite(loss_sum)):  # one check per segment: a sync, not one per step
                resume.clear()
                raise TrainingDiverged(step)
            writer.submit(session, step, last=step == spec.local_steps)
            if step < spec.local_steps:
                loss_sum = torch.zeros((), device=device)
    finally:
        writer.close()
    # the configuration the whole round ran in, or only the device's class if it changed on the way
    ran_in = started if config.current(device) == started else config.DeviceConfig(device.type)
    final = optim.params_of(session.live_state())  # the last checkpoint's parameters, not decoded again
    return _finish(job, key, store, resume, writer, state, base, final, float(loss_sum) / k, ran_in.label())


def fresh_round_state(job: RoundJob, miner: bytes) -> RoundState:
    """The resume state of round `job` for `miner` (a public key) before its first step."""
    return RoundState(
        chain_id=job.chain_id,
        task_id=job.task_id,
        round=job.round,
        miner=miner,
        base_checkpoint=job.base_checkpoint,
        anchor=job.anchor_block_hash,
        step=0,
        checkpoints=(job.base_checkpoint,),
        state_file=ZERO_HASH,
    )


def _open_session(
    spec: TaskSpec,
    device: torch.device,
    store: BlobStore,
    state: RoundState,
    tensors: dict[str, torch.Tensor] | None,
    base: dict[str, torch.Tensor],
) -> tuple[Session, torch.Tensor]:
    """The training session at `state`'s step, and the segment's running loss sum: from a pause's saved
    state (`tensors`), the base checkpoint, or the last checkpoint written."""
    session = Session(spec, device)
    loss_sum = torch.zeros((), device=device)
    if tensors is not None:
        loss_sum = tensors.pop(LOSS_SUM).reshape(()).to(device)
        session.load(tensors)
    elif state.step == 0:
        session.load(base)
    else:
        session.load(decode_tensors(fetch_verified(store, state.checkpoints[-1], "checkpoint")))
    return session, loss_sum


def _finish(
    job: RoundJob,
    key: crypto.SigningKey | bytes,
    store: BlobStore,
    resume: ResumeDir,
    writer: _CheckpointWriter,
    state: RoundState,
    base: dict[str, torch.Tensor],
    final: dict[str, torch.Tensor],
    final_loss: float,
    device_class: str,
) -> RoundOutput:
    """Store the update, make the receipt (signed if `key` is a signing key) and record the round as
    finished (so a crash now never trains it again)."""
    spec = job.spec
    checkpoints = writer.drain()
    update = encode_tensors(update_tensors(final, base))
    update_hash = put_hashed(store, memoryview(update), blob_hash(update))
    sync(store)  # one fsync pass for the round's blobs, before the receipt commits to them
    receipt = make_receipt(
        key=key,
        chain_id=job.chain_id,
        task_id=job.task_id,
        round_number=job.round,
        checkpoints=checkpoints,
        update_hash=update_hash,
        steps=spec.local_steps,
        final_loss=final_loss,
        device_class=device_class,
    )
    trace = TrainingTrace(checkpoints=tuple(checkpoints), samples=spec.local_steps * spec.batch_size)
    finished = state.replace(step=spec.local_steps, checkpoints=trace.checkpoints, state_file=ZERO_HASH)
    if not writer.keep_every:  # dropped checkpoints: record what re-computing them takes (app.miner.recompute)
        record_sparse_round(resume.path, receipt.commitments_root, SparseRound(finished, spec, device_class))
    resume.finish(FinishedRound(finished, receipt, trace.samples, update_hash))
    writer.advance_point(checkpoints[-1])  # no record names the last resume point any more
    return RoundOutput(receipt, trace, update_hash)


class _CheckpointWriter:
    """Encodes, hashes and stores checkpoint blobs on one background thread, in order.

    At a checkpoint the training thread only queues the live state (views of its tensors). The writer
    thread copies it into one of `BUFFERS` reused buffers while the next step's forward and backward
    run (the session's `before_update` waits for that copy before the optimiser changes the state),
    then hashes and writes the bytes (both release the GIL) without copying them again. A buffer is
    reused once its previous checkpoint is written, so memory stays at `BUFFERS` checkpoints whatever
    the round's length. In sparse mode (`keep_every` False) it only hashes most checkpoints, stores the
    ones a resume record or the receipt names, and drops the resume point a newer record superseded.
    """

    BUFFERS = 2

    def __init__(self, store: BlobStore, resume: ResumeDir, state: RoundState, keep_every: bool | None) -> None:
        self.store, self.resume, self.state = store, resume, state
        self.keep_every = keep_every  # None until the first checkpoint's size decides
        self.last_save = time.monotonic()
        self.buffers = [EncodeBuffer() for _ in range(self.BUFFERS)]
        self.in_use: list[Future[None] | None] = [None] * self.BUFFERS  # the write reading each buffer
        self.copied = threading.Event()  # the latest submitted state is in its buffer
        self.copied.set()
        self.submitted = 0
        self.last: memoryview | None = None  # the latest checkpoint's bytes (its buffer is not reused yet)
        self.checkpoints = list(state.checkpoints)
        # The intermediate checkpoint a resume record names (a resumed round's, at first): dropped when
        # a newer record names another, and at the round's end. Never the base (index 0).
        self.point: bytes | None = state.checkpoints[-1] if len(state.checkpoints) > 1 else None
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pot-ckpt")
        # fsyncs each stored checkpoint as soon as it is written (waiting on the disk, not the CPU): the
        # `sync` before a resume record or the receipt then finds little left (in keep-all mode it had a
        # whole round's checkpoints to flush, seconds of wall clock at the round's end)
        self.syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pot-sync")
        self.pending: list[Future[None]] = []

    @property
    def last_blob(self) -> bytes:
        """The latest checkpoint's bytes (a copy, after `drain`); empty before the first."""
        return b"" if self.last is None else bytes(self.last)

    def submit(self, session: Session, step: int, last: bool) -> None:
        """Queue `session`'s checkpoint; the session's next optimiser step waits until it is copied."""
        slot = self.submitted % self.BUFFERS
        previous = self.in_use[slot]
        if previous is not None:
            previous.result()  # the buffer's last checkpoint is written (a failure is raised here)
        self.copied.clear()
        session.before_update = self.copied.wait
        future = self.pool.submit(self._write, slot, session.live_state(), step, last)
        self.in_use[slot] = future
        self.pending.append(future)
        self.submitted += 1

    def _write(self, slot: int, live: dict[str, torch.Tensor], step: int, last: bool) -> None:
        try:
            self.last = blob = self.buffers[slot].encode(live)
        finally:
            self.copied.set()  # (on a failure too: the training thread goes on and `drain` raises it)
        del live
        if self.keep_every is None:
            self.keep_every = keeps_every_checkpoint(len(blob))
        save = not last and time.monotonic() - self.last_save >= RESUME_SAVE_INTERVAL_S
        digest = blob_hash(blob)
        if self.keep_every or last or save:
            put_hashed(self.store, blob, digest)
            if not save:  # flushed to disk while training goes on, not all in the pass before the receipt
                self.syncer.submit(sync, self.store, [digest])
        self.checkpoints.append(digest)  # committed, re-computable if not stored
        if save:
            sync(self.store)  # the record below names these checkpoints: they must survive first
            self.resume.save(self.state.replace(step=step, checkpoints=tuple(self.checkpoints)), None)
            self.last_save = time.monotonic()
            self.advance_point(self.checkpoints[-1])

    def keep_latest(self) -> None:
        """Store the latest checkpoint if sparse mode only hashed it (after `drain`)."""
        if self.last is not None and not self.store.has(self.checkpoints[-1]):
            put_hashed(self.store, self.last, self.checkpoints[-1])

    def advance_point(self, digest: bytes) -> None:
        """A durable record now names `digest` (or the round finished): drop the superseded resume point."""
        if self.keep_every or self.keep_every is None and self.point is None:
            return
        old, self.point = self.point, (digest if digest != self.checkpoints[0] else None)
        if old is not None and old != digest and old not in (self.checkpoints[0], self.checkpoints[-1]):
            discard(self.store, old)

    def drain(self) -> list[bytes]:
        """Wait for every submitted checkpoint (re-raising a failure); the hashes so far."""
        try:
            for f in self.pending:
                f.result()
        finally:
            self.pending.clear()
        return list(self.checkpoints)

    def close(self) -> None:
        """Let queued writes finish and stop the thread (on every exit path, errors included)."""
        self.pool.shutdown(wait=True)
        self.syncer.shutdown(wait=True)  # (a failed fsync is retried, and raised, by the next `sync`)


def _save_paused(resume: ResumeDir, state: RoundState, session: Session, loss_sum: torch.Tensor, k: int) -> None:
    """Persist a pause: a checkpoint step is already stored, a mid-segment step needs its tensors."""
    if state.step % k == 0:
        resume.save(state, None)
        return
    tensors = session.export()
    tensors[LOSS_SUM] = loss_sum.detach().to("cpu", torch.float32).reshape(1)
    resume.save(state, tensors)


def _paused_config(resume: ResumeDir, device: torch.device) -> config.DeviceConfig:
    """The configuration the paused part of the round ran in, when it is also this one's; else the class."""
    try:
        saved = config.parse((resume.path / CONFIG_FILE).read_text())
    except (OSError, UnicodeDecodeError, config.BadDeviceConfig):
        return config.DeviceConfig(device.type)
    return saved if saved == config.current(device) else config.DeviceConfig(device.type)


def _restore(resume: ResumeDir, fresh: RoundState) -> tuple[RoundState, dict[str, torch.Tensor] | None]:
    """The saved state of this same round with its mid-segment tensors, or `fresh`."""
    saved = resume.load()
    if saved is None or not saved[0].same_round(fresh):
        resume.clear()  # another round's leftovers (or a damaged file): that work is stale anyway
        return fresh, None
    state, tensors = saved
    if tensors is not None:
        if LOSS_SUM not in tensors:
            resume.clear()
            return fresh, None
        tensors = dict(tensors)
    return state, tensors


def _chain(a: Callable[[int, torch.Tensor], None], b: Callable[[], None]) -> Callable[[int, torch.Tensor], None]:
    def both(step: int, loss: torch.Tensor) -> None:
        a(step, loss)
        b()

    return both


class _Meter:
    """Calls `progress` every `every` steps with the loss and samples/s since the last report."""

    def __init__(self, batch: int, total: int, every: int, progress: Callable[[Progress], None] | None) -> None:
        self.batch, self.total, self.every, self.progress = batch, total, max(1, every), progress
        self.t0 = time.perf_counter()
        self.steps = 0

    def on_step(self, step: int, loss: torch.Tensor) -> None:
        if self.progress is None:
            return
        self.steps += 1
        if self.steps % self.every and step + 1 != self.total:
            return
        now = time.perf_counter()
        rate = self.steps * self.batch / max(now - self.t0, 1e-9)
        self.progress(Progress(step + 1, self.total, float(loss), rate))
        self.t0, self.steps = now, 0
