"""The training worker: one round at a time in its own process, so the daemon stays responsive.

Training holds the GIL and the GPU for seconds at a time; the daemon's networking and RPC must not
wait for it, and a crash in a CUDA driver or an out-of-memory kill must not take the node down. So
rounds run in a child process started with the "spawn" method (fork breaks CUDA: hivemind's lesson),
and the daemon talks to it over a `multiprocessing` Pipe with the small messages below. Both ends
are this program, so the messages are pickled; nothing from a peer travels on this pipe.

The worker never holds the miner's secret key: it trains under the public key (which seeds the data
order; `train_round` given only a public key makes the receipt unsigned) and returns the receipt
unsigned; its parent signs it once (`WorkReceipt.signed_by`): the daemon's mining controller, or a
miner node's `NodeTrainer` (app/node/training.py), the two users of this process.

Pausing is always a save to disk (`app.miner.loop` writes the resume state), so a paused round
survives the worker being killed, and a restarted worker given the same order continues from the last
resume point (the last checkpoint, or the exact step of a pause) with a bit-for-bit identical result.
`TrainingWorker` is the parent's side: it spawns the process, sends commands, turns messages and the
process's death into events, and after a crash starts a new process and re-sends the running order.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path

import torch

from app.core.blobstore import BlobStore as DiskBlobStore
from app.core.errors import InvalidReceipt, PotError
from app.core.types import WorkReceipt
from app.filelock import LockBusy, WaitAbandoned
from app.miner.devices import DeviceStats, DeviceUnavailable, DutyCycle, device_stats, select_device
from app.miner.loop import Paused as LoopPaused, Progress as LoopProgress, RoundJob, fresh_round_state, train_round
from app.miner.resume import ResumeDir
from app.pot.datasets import DatasetManifest, Split, load_dataset
from app.pot.proof import TrainingTrace

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 2.0  # device telemetry (NVML calls) at most this often, not at every progress report


# ---------------------------------------------------------------------------------------- orders


@dataclass(frozen=True)
class DeviceSettings:
    """The user's device choice and caps (see `app.miner.devices`); None means no cap."""

    preference: str = "auto"
    memory_fraction: float | None = None
    cpu_threads: int | None = None
    duty_cycle: float = 1.0  # share of wall time spent training


@dataclass(frozen=True)
class RoundTask:
    """An open round the node offers: the chain's job and the dataset's shard list (checked against the
    task's root by the worker). Its blobs must already be in the blob store."""

    job: RoundJob
    dataset: DatasetManifest


@dataclass(frozen=True)
class WorkOrder:
    """Everything the worker process needs to train (or continue) one round."""

    task: RoundTask
    miner: bytes  # public key: seeds the data order and names the receipt's signer
    blob_dir: str
    resume_dir: str
    device: DeviceSettings = DeviceSettings()
    report_every: int = 10  # steps between progress messages

    @property
    def job(self) -> RoundJob:
        return self.task.job


# ------------------------------------------------------------------ parent -> worker commands


@dataclass(frozen=True)
class Run:
    """Train `order`, continuing from its resume state if one is saved (another round's is discarded)."""

    order: WorkOrder


@dataclass(frozen=True)
class Pause:
    """Stop between two steps and save the state; answered by `RoundPaused`."""


@dataclass(frozen=True)
class Shutdown:
    """Pause (saving state) if training, then exit."""


Command = Run | Pause | Shutdown


# ------------------------------------------------------------------ worker -> parent events


@dataclass(frozen=True)
class RoundStarted:
    """The round is training; `resumed_from` is the step it continues from (0 for a fresh round)."""

    task_id: bytes
    round: int
    resumed_from: int
    device: str


@dataclass(frozen=True)
class RoundProgress:
    task_id: bytes
    round: int
    step: int
    total_steps: int
    loss: float
    samples_per_s: float
    stats: DeviceStats | None  # the latest telemetry, refreshed every STATS_INTERVAL_S


@dataclass(frozen=True)
class RoundPaused:
    """The worker is idle; the round's state is on disk at `step` (None: nothing was running)."""

    step: int | None


@dataclass(frozen=True)
class RoundDone:
    """The round is finished. `receipt` is unsigned (the parent holds the key); its blobs are stored."""

    receipt: WorkReceipt
    trace: TrainingTrace
    update_hash: bytes


@dataclass(frozen=True)
class RoundFailed:
    """The round could not run; `reason` is a stable code, the worker lives on and its state stays on disk."""

    task_id: bytes
    round: int
    reason: str
    detail: str


@dataclass(frozen=True)
class WorkerCrashed:
    """Generated by the parent: the process died (`exitcode` < 0 is the killing signal's number).

    `restarted` says a new process was started; `resumed` that it was given the running round again.
    """

    exitcode: int | None
    restarted: bool
    resumed: bool
    crashes_in_a_row: int

    @property
    def description(self) -> str:
        code = self.exitcode
        if code is not None and code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with status {code}"


WorkerEvent = RoundStarted | RoundProgress | RoundPaused | RoundDone | RoundFailed | WorkerCrashed


# ---------------------------------------------------------------------- the child process


class _Interrupt:
    """`should_pause` for the loop: true once any command arrives (or the parent is gone); keeps it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pending: Command | None = None
        self.fired = False

    def __call__(self) -> bool:
        if not self.fired and self.conn.poll():
            self.pending = _receive(self.conn)
            self.fired = True
        return self.fired

    def next_command(self) -> Command | None:
        """What to do after the round stopped: a `Pause` is answered by stopping, so nothing follows."""
        return None if isinstance(self.pending, Pause) else self.pending


def _receive(conn: Connection) -> Command:
    try:
        msg = conn.recv()
    except (EOFError, OSError):
        return Shutdown()  # the daemon is gone: save and leave
    if not isinstance(msg, (Run, Pause, Shutdown)):
        raise TypeError(f"worker: unexpected command {type(msg).__name__}")
    return msg


def worker_main(conn: Connection) -> None:
    """The worker process's entry point: serve commands until `Shutdown` or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the daemon stops us in order
    command: Command | None = None
    data = _DataCache()
    while True:
        if command is None:
            command = _receive(conn)
        if isinstance(command, Shutdown):
            return
        if isinstance(command, Pause):
            conn.send(RoundPaused(None))
            command = None
            continue
        command = _train(conn, command.order, data)


class _DataCache:
    """The last dataset loaded (hashing every shard), kept so a resume after a pause starts at once."""

    def __init__(self) -> None:
        self.key: tuple[str, bytes] | None = None
        self.split: Split | None = None

    def load(self, blob_dir: str, store: DiskBlobStore, manifest: DatasetManifest, root: bytes) -> Split:
        key = (blob_dir, manifest.root)
        if self.key != key or self.split is None:
            self.key, self.split = None, None
            self.split, self.key = load_dataset(store, manifest, root), key
        elif manifest.root != root:
            raise InvalidReceipt("dataset-mismatch", "the shard list does not hash to the task's dataset root")
        return self.split


def _train(conn: Connection, order: WorkOrder, cache: _DataCache) -> Command | None:
    """Run `order` until it ends or a command interrupts it; returns the command still to handle."""
    job = order.job
    interrupt = _Interrupt(conn)
    try:
        s = order.device
        device = select_device(s.preference, memory_fraction=s.memory_fraction, cpu_threads=s.cpu_threads)
        store = DiskBlobStore(order.blob_dir)
        resume = ResumeDir(Path(order.resume_dir))
        data = cache.load(order.blob_dir, store, order.task.dataset, job.spec.dataset_root)
        # one writer per folder: a killed daemon's orphaned worker may still be saving the step it reached
        with resume.hold(give_up=interrupt):
            conn.send(RoundStarted(job.task_id, job.round, resume_point(resume, order), device.type))
            meter = _Reporter(conn, job, device)
            out = train_round(
                job,
                order.miner,  # the public key only: the receipt comes back unsigned, for the parent to sign
                store,
                data,
                device=device,
                resume=resume,
                progress=meter,
                should_pause=interrupt,
                after_step=DutyCycle(s.duty_cycle, device) if s.duty_cycle < 1 else None,
                report_every=order.report_every,
            )
    except WaitAbandoned:  # a command came while another process held the folder: nothing ran, nothing lost
        conn.send(RoundPaused(None))
        return interrupt.next_command()
    except Exception as exc:  # any failure of this round is reported; the worker serves the next command
        reason, detail = failure_reason(exc)  # the parent logs it: this process has no log handlers
        conn.send(RoundFailed(job.task_id, job.round, reason, detail))
        return interrupt.next_command()
    finally:
        _release_memory()
    if isinstance(out, LoopPaused):
        conn.send(RoundPaused(out.step))
    else:
        conn.send(RoundDone(out.receipt, out.trace, out.update_hash))
    return interrupt.next_command()


def resume_point(resume: ResumeDir, order: WorkOrder) -> int:
    """The step `train_round` will continue `order` from: the last step when this round finished before a
    crash (its result is kept), else the saved step of this same round, else 0."""
    job = order.job
    fresh = fresh_round_state(job, order.miner)
    if resume.load_finished(fresh) is not None:
        return job.spec.local_steps
    saved = resume.load()
    if saved is None:
        return 0
    return saved[0].step if saved[0].same_round(fresh) else 0


def failure_reason(exc: BaseException) -> tuple[str, str]:
    """A stable reason code for the window and the RPC, and the detail for the log."""
    if isinstance(exc, PotError) and isinstance(getattr(exc, "reason", None), str):
        return exc.reason, getattr(exc, "detail", "") or str(exc)  # type: ignore[attr-defined]
    if isinstance(exc, DeviceUnavailable):
        return "device-unavailable", str(exc)
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return "out-of-memory", str(exc).splitlines()[0] if str(exc) else "out of GPU memory"
    if isinstance(exc, LockBusy):
        return "resume-busy", str(exc)
    if isinstance(exc, OSError):
        return "storage-error", str(exc)
    return "training-error", f"{type(exc).__name__}: {exc}"


def _release_memory() -> None:
    """Give cached GPU memory back while idle or paused: the user may want the GPU now."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


class _Reporter:
    """The loop's progress callback: forwards each report, with device telemetry every few seconds."""

    def __init__(self, conn: Connection, job: RoundJob, device: torch.device) -> None:
        self.conn, self.job, self.device = conn, job, device
        self.stats: DeviceStats | None = None
        self.stats_at = float("-inf")

    def __call__(self, p: LoopProgress) -> None:
        now = time.monotonic()
        if now - self.stats_at >= STATS_INTERVAL_S:
            self.stats, self.stats_at = device_stats(self.device), now
        self.conn.send(
            RoundProgress(self.job.task_id, self.job.round, p.step, p.total_steps, p.loss, p.samples_per_s, self.stats)
        )


# ---------------------------------------------------------------------- the parent's side


class WorkerError(RuntimeError):
    """The worker process could not be started or used."""


class TrainingWorker:
    """The daemon's handle on the worker process.

    Not thread-safe: one owner (the mining controller, or a miner node's loop) calls it. `wait` only blocks and touches no
    state, so the owner may wait outside its lock and call `poll` under it.
    """

    def __init__(self, *, max_restarts: int = 3, target: Callable[[Connection], None] = worker_main) -> None:
        self.max_restarts = max_restarts
        self._target = target
        self._ctx = mp.get_context("spawn")
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._order: WorkOrder | None = None  # the round given to the worker and not finished
        self._running = False  # whether that round should be training now (false: paused)
        self.crashes_in_a_row = 0
        self.restarts = 0

    # -- lifecycle

    def start(self) -> None:
        """Spawn the process (imports torch there: seconds; commands sent meanwhile are queued)."""
        if self.alive:
            return
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=self._target, args=(child,), name="pot-train-worker", daemon=True)
        try:
            proc.start()
        except OSError as exc:
            parent.close()
            raise WorkerError(f"cannot start the training worker: {exc}") from exc
        finally:
            child.close()  # only the child holds its end, so its death reads as EOF here
        self._proc, self._conn = proc, parent
        log.info("worker: started process %s", proc.pid)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Ask the worker to save and exit; kill it if it does not within `timeout` seconds."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        self._running = False
        if proc is None or conn is None:
            return
        try:
            conn.send(Shutdown())
        except OSError:
            pass
        proc.join(timeout)
        if proc.is_alive():
            log.warning("worker: process %s did not stop in %.0f s; killing it", proc.pid, timeout)
            proc.kill()
            proc.join(5)
        conn.close()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def order(self) -> WorkOrder | None:
        return self._order

    @property
    def running(self) -> bool:
        return self._running

    # -- commands

    def run(self, order: WorkOrder) -> None:
        """Train `order` (a paused one continues; a different one replaces the old round)."""
        self.start()
        self._order, self._running = order, True
        self._send(Run(order))

    def pause(self) -> None:
        """Stop training at the next step; the round stays assigned and `resume` continues it."""
        if self._running:
            self._running = False
            self._send(Pause())

    def resume(self) -> None:
        if self._order is None:
            raise WorkerError("no round to resume")
        self.run(self._order)

    def forget(self) -> None:
        """Drop the assigned round (after pausing it); its resume state is discarded when another runs."""
        self.pause()
        self._order = None

    def _send(self, command: Command) -> None:
        assert self._conn is not None
        try:
            self._conn.send(command)
        except OSError:
            pass  # the process is dead; `poll` reports it, restarts it and re-sends the running round

    # -- events

    def wait(self, timeout: float | None) -> bool:
        """Block until a message or the process's death is ready to `poll` (or `timeout` passes)."""
        conn, proc = self._conn, self._proc  # another thread may shut the worker down meanwhile
        if conn is None or proc is None:
            if timeout:
                time.sleep(timeout)
            return False
        try:
            return bool(wait([conn, proc.sentinel], timeout))
        except (OSError, ValueError):  # closed under us: let `poll` look
            return True

    def poll(self) -> list[WorkerEvent]:
        """Every message ready now; a dead process is reported as `WorkerCrashed` (and restarted)."""
        if self._conn is None or self._proc is None:
            return []
        events: list[WorkerEvent] = []
        while True:
            try:
                if not self._conn.poll():
                    break
                msg = self._conn.recv()
            except (EOFError, OSError):
                events.append(self._on_death())
                return events
            events.append(msg)
            self._note(msg)
        if not self._proc.is_alive():
            events.append(self._on_death())
        return events

    def _note(self, msg: WorkerEvent) -> None:
        if isinstance(msg, RoundProgress):
            self.crashes_in_a_row = 0  # it got past the point it died at before
        elif isinstance(msg, (RoundDone, RoundFailed)):
            self._order, self._running = None, False

    def _on_death(self) -> WorkerCrashed:
        """Reap the dead process; restart it unless it keeps dying without progress."""
        assert self._proc is not None and self._conn is not None
        self._proc.join(5)
        code = self._proc.exitcode
        self._conn.close()
        self._proc = self._conn = None
        self.crashes_in_a_row += 1
        if self.crashes_in_a_row > self.max_restarts:
            log.error("worker: died %d times in a row (%s); not restarting", self.crashes_in_a_row, code)
            self._running = False
            return WorkerCrashed(code, restarted=False, resumed=False, crashes_in_a_row=self.crashes_in_a_row)
        log.warning("worker: process died (exit code %s); restarting", code)
        self.restarts += 1
        resumed = self._running and self._order is not None
        if resumed:
            assert self._order is not None
            self.run(self._order)  # continues from the round's last resume point on disk
        else:
            self.start()
        return WorkerCrashed(code, restarted=True, resumed=resumed, crashes_in_a_row=self.crashes_in_a_row)
