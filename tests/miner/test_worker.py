"""The training worker process: real spawned processes training the demo task on the CPU.

Each test compares the worker's receipt with `train_round` run uninterrupted in this process: pausing,
resuming and a SIGKILL mid-round must change nothing, bit for bit.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from app.core import crypto
from app.core.blobstore import BlobStore
from app.core.types import NO_SIGNATURE, TaskSpec
from app.miner import demo
from app.miner.loop import RoundJob, RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.miner.worker import (
    DeviceSettings,
    RoundDone,
    RoundFailed,
    RoundPaused,
    RoundProgress,
    RoundStarted,
    RoundTask,
    TrainingWorker,
    WorkerCrashed,
    WorkerEvent,
    WorkOrder,
)
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import load_dataset

from .conftest import ANCHOR, CHAIN, CPU, TASK_ID

# The suite's child reaper also kills multiprocessing's resource tracker after each test; it is relaunched.
pytestmark = pytest.mark.filterwarnings("ignore:resource_tracker:UserWarning")

KEY = crypto.SigningKey.from_seed(bytes([9]) * 32)
TIMEOUT_S = 120.0  # generous: a spawned worker imports torch on a shared 2-core box
# Long enough that a command sent on a progress report lands well before the end (~200 steps later).
LONG = dict(local_steps=240, checkpoint_interval=8, batch_size=16)


def round_task(spec: TaskSpec, round_number: int = 0, base: bytes | None = None) -> RoundTask:
    job = RoundJob(CHAIN, TASK_ID, spec, round_number, ANCHOR, base or spec.initial_checkpoint)
    return RoundTask(job, demo.manifest_for_root(spec.dataset_root))


def seeded_store(path: Path, spec: TaskSpec) -> Path:
    demo.seed_blobs(BlobStore(path), spec)
    return path


def order_for(spec: TaskSpec, root: Path, **kw: object) -> WorkOrder:
    fields: dict[str, object] = {
        "task": round_task(spec),
        "miner": KEY.public_key,
        "blob_dir": str(seeded_store(root / "blobs", spec)),
        "resume_dir": str(root / "resume"),
        "device": DeviceSettings(preference="cpu", cpu_threads=1),
        "report_every": 4,
    }
    fields.update(kw)
    return WorkOrder(**fields)  # type: ignore[arg-type]


def reference(spec: TaskSpec, tmp: Path) -> RoundOutput:
    """The uninterrupted round, trained in this process."""
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    out = train_round(round_task(spec).job, KEY, store, data, device=CPU, resume=ResumeDir(tmp))
    assert isinstance(out, RoundOutput)
    return out


_BACKLOG: dict[int, list[WorkerEvent]] = {}  # events polled past a match, kept for the next collect


def collect(worker: TrainingWorker, until: Callable[[WorkerEvent], bool]) -> list[WorkerEvent]:
    """Events up to and including the first that satisfies `until`; fails after TIMEOUT_S."""
    seen: list[WorkerEvent] = []
    backlog = _BACKLOG.setdefault(id(worker), [])
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if not backlog:
            worker.wait(1.0)
            backlog.extend(worker.poll())
        while backlog:
            event = backlog.pop(0)
            seen.append(event)
            if until(event):
                return seen
    raise AssertionError(f"timed out; events so far: {[type(e).__name__ for e in seen]}")


@pytest.fixture(scope="module")
def long_spec() -> TaskSpec:
    return demo.task_spec(**LONG)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def long_reference(long_spec: TaskSpec, tmp_path_factory: pytest.TempPathFactory) -> RoundOutput:
    return reference(long_spec, tmp_path_factory.mktemp("ref"))


@pytest.fixture(scope="module")
def shared() -> Iterator[TrainingWorker]:
    """One worker for the tests below (each spawn imports torch: seconds on a shared box)."""
    w = TrainingWorker()
    w.start()  # before the per-test reaper takes its list of children
    yield w
    w.shutdown(timeout=30)
    assert not w.alive


@pytest.fixture()
def worker(shared: TrainingWorker) -> TrainingWorker:
    assert shared.order is None and shared.poll() == [] and not _BACKLOG.get(id(shared))  # left idle
    return shared


@pytest.fixture()
def own_worker() -> Iterator[TrainingWorker]:
    """A worker of the test's own, for a test that kills it: the reaper ends its restarted process after the test,
    which would leave the shared worker dead for whichever test runs next."""
    w = TrainingWorker()
    w.start()
    yield w
    w.shutdown(timeout=30)


def test_failed_round_reports_its_reason_then_the_same_process_trains_and_parent_signs(
    tmp_path: Path, worker: TrainingWorker
) -> None:
    spec = demo.task_spec(local_steps=8, checkpoint_interval=4, batch_size=8)
    unknown_base = bytes([0xAB]) * 32  # a base checkpoint that is in no store
    worker.run(order_for(spec, tmp_path, task=round_task(spec, base=unknown_base)))
    failed = collect(worker, lambda e: isinstance(e, RoundFailed))[-1]
    assert isinstance(failed, RoundFailed) and failed.reason == "blob-missing" and failed.round == 0
    assert worker.order is None and not worker.running
    pid = worker.pid

    worker.run(order_for(spec, tmp_path))
    events = collect(worker, lambda e: isinstance(e, RoundDone))
    assert worker.pid == pid  # the failure did not cost the process
    started = [e for e in events if isinstance(e, RoundStarted)]
    assert started == [RoundStarted(TASK_ID, 0, resumed_from=0, device="cpu")]
    progress = [e for e in events if isinstance(e, RoundProgress)]
    assert [p.step for p in progress] == [4, 8] and all(p.loss > 0 and p.samples_per_s > 0 for p in progress)
    assert progress[0].stats is not None and progress[0].stats.device == "cpu"
    done = events[-1]
    assert isinstance(done, RoundDone) and done.receipt.signature == NO_SIGNATURE  # the key never left us
    signed = done.receipt.signed_by(KEY)
    signed.verify_signature()
    assert signed == reference(spec, tmp_path / "ref").receipt
    assert all(BlobStore(tmp_path / "blobs").has(h) for h in (*done.trace.checkpoints, done.update_hash))


def test_pause_and_resume_mid_round_lose_no_work(
    tmp_path: Path, worker: TrainingWorker, long_spec: TaskSpec, long_reference: RoundOutput
) -> None:
    order = order_for(long_spec, tmp_path)
    worker.run(order)
    events = collect(worker, lambda e: isinstance(e, RoundProgress) and e.step >= 20)
    worker.pause()
    events = collect(worker, lambda e: isinstance(e, RoundPaused))
    paused = events[-1]
    assert isinstance(paused, RoundPaused) and paused.step is not None and 20 <= paused.step < long_spec.local_steps
    assert worker.order == order and not worker.running
    assert (tmp_path / "resume" / "round.cbor").exists()  # the pause is on disk, not only in the process
    assert not worker.wait(0.5) and worker.poll() == [] and not _BACKLOG[id(worker)]  # it really stopped

    worker.resume()
    events = collect(worker, lambda e: isinstance(e, RoundDone))
    assert events[0] == RoundStarted(TASK_ID, 0, resumed_from=paused.step, device="cpu")
    assert all(e.step > paused.step for e in events if isinstance(e, RoundProgress))
    done = events[-1]
    assert isinstance(done, RoundDone)
    assert done.receipt.signed_by(KEY) == long_reference.receipt
    assert done.update_hash == long_reference.update_hash and done.trace == long_reference.trace


def test_a_new_order_while_training_pauses_the_old_round_and_trains_the_new_one(
    tmp_path: Path, worker: TrainingWorker, long_spec: TaskSpec
) -> None:
    worker.run(order_for(long_spec, tmp_path))
    collect(worker, lambda e: isinstance(e, RoundProgress) and e.step >= 8)
    short = demo.task_spec(local_steps=8, checkpoint_interval=4, batch_size=8)
    worker.run(order_for(short, tmp_path / "next"))  # the node moved on to another round
    events = collect(worker, lambda e: isinstance(e, RoundDone))
    kinds = [type(e).__name__ for e in events if not isinstance(e, RoundProgress)]
    assert kinds == ["RoundPaused", "RoundStarted", "RoundDone"]
    assert events[-1].receipt.steps == 8 and worker.order is None  # type: ignore[union-attr]


def test_sigkill_mid_round_is_reported_and_the_round_completes_from_the_last_resume_point(
    tmp_path: Path, own_worker: TrainingWorker, long_spec: TaskSpec, long_reference: RoundOutput
) -> None:
    worker = own_worker
    worker.run(order_for(long_spec, tmp_path))
    collect(worker, lambda e: isinstance(e, RoundProgress) and e.step >= 12)
    worker.pause()  # a pause always saves; periodic saves while training come only every few seconds
    paused = collect(worker, lambda e: isinstance(e, RoundPaused))[-1]
    assert isinstance(paused, RoundPaused) and paused.step is not None
    worker.resume()
    collect(worker, lambda e: isinstance(e, RoundProgress) and e.step >= paused.step + 8)  # type: ignore[operator]

    killed_pid = worker.pid
    assert killed_pid is not None
    os.kill(killed_pid, signal.SIGKILL)  # mid-training, past the saved point
    wait_until_dead(killed_pid)
    saved = ResumeDir(tmp_path / "resume").load()
    assert saved is not None
    on_disk = saved[0].step  # the last resume point the killed process left
    assert paused.step <= on_disk < long_spec.local_steps

    events = collect(worker, lambda e: isinstance(e, RoundDone))
    assert not [e for e in events if isinstance(e, RoundDone)][:-1]  # no result came from the killed process
    crashed = [e for e in events if isinstance(e, WorkerCrashed)]
    assert crashed == [WorkerCrashed(-signal.SIGKILL, restarted=True, resumed=True, crashes_in_a_row=1)]
    assert crashed[0].description == "killed by SIGKILL"
    assert worker.pid != killed_pid and worker.restarts == 1
    started = [e for e in events if isinstance(e, RoundStarted)]
    assert started == [RoundStarted(TASK_ID, 0, resumed_from=on_disk, device="cpu")]
    assert all(e.step > on_disk for e in events if isinstance(e, RoundProgress))
    done = events[-1]
    assert isinstance(done, RoundDone)
    assert done.receipt.signed_by(KEY) == long_reference.receipt  # bit for bit the uninterrupted round
    assert worker.crashes_in_a_row == 0  # progress after the restart clears the crash streak


def wait_until_dead(pid: int) -> None:
    """Wait for a killed child to become a zombie (without reaping it: the worker must see its exit code)."""
    deadline = time.monotonic() + TIMEOUT_S
    while psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"process {pid} survived SIGKILL"
        time.sleep(0.05)


def test_a_worker_that_keeps_dying_is_not_restarted_forever() -> None:
    # `sys.exit(conn)` as the entry: a worker that exits at once with status 1, like one whose CUDA
    # initialisation aborts; it spawns without importing torch, so the test stays quick.
    worker = TrainingWorker(max_restarts=1, target=sys.exit)
    try:
        worker.start()
        first = collect(worker, lambda e: isinstance(e, WorkerCrashed))
        assert first == [WorkerCrashed(1, restarted=True, resumed=False, crashes_in_a_row=1)]
        assert first[0].description == "exited with status 1"
        second = collect(worker, lambda e: isinstance(e, WorkerCrashed))
        assert second == [WorkerCrashed(1, restarted=False, resumed=False, crashes_in_a_row=2)]
        assert not worker.alive and worker.poll() == []
    finally:
        worker.shutdown(timeout=5)


def test_a_round_finished_but_never_recorded_is_handed_back_not_retrained(
    tmp_path: Path, worker: TrainingWorker
) -> None:
    """Issue 17 row 12: the round trained to its end, then the daemon died (SIGKILL) before recording the
    receipt, so its restarted controller orders the same round again. The worker writes the finished round
    to the resume folder before it reports it, so what a kill at any later point leaves on disk is what
    the second order finds here: the kept result comes back at once instead of a retrain from step 0.
    (The shared worker is not killed, as that would cost two more torch imports; the kill of the worker
    process itself is covered by the SIGKILL test above.)"""
    spec = demo.task_spec(local_steps=8, checkpoint_interval=4, batch_size=8)
    worker.run(order_for(spec, tmp_path))
    first = collect(worker, lambda e: isinstance(e, RoundDone))[-1]
    assert isinstance(first, RoundDone)
    assert (tmp_path / "resume" / "finished.cbor").exists() and not (tmp_path / "resume" / "round.cbor").exists()

    worker.run(order_for(spec, tmp_path))  # as the restarted daemon's controller does
    events = collect(worker, lambda e: isinstance(e, RoundDone))
    assert [e for e in events if isinstance(e, RoundStarted)] == [
        RoundStarted(TASK_ID, 0, resumed_from=spec.local_steps, device="cpu")
    ]  # was resumed_from=0
    assert not [e for e in events if isinstance(e, RoundProgress)]  # no step was trained again
    done = events[-1]
    assert isinstance(done, RoundDone) and done.receipt == first.receipt and done.trace == first.trace
    assert done.receipt.signed_by(KEY) == reference(spec, tmp_path / "ref").receipt


def test_a_second_worker_on_the_same_folder_waits_for_the_first_to_save_and_resumes_from_its_step(
    tmp_path: Path, own_worker: TrainingWorker
) -> None:
    """A killed daemon's orphaned worker saves the step it reached when it sees its pipe closed, while the
    restarted daemon's new worker starts on the same folder. Without one writer per folder the new worker
    read the older record (here none: step 0) and both trained into it; it must wait for the save instead.
    (That a resumed round is bit for bit the uninterrupted one is pinned by the tests above.)"""
    first = own_worker
    spec = demo.task_spec(local_steps=4000, checkpoint_interval=8, batch_size=16)  # minutes: never ends here
    order = order_for(spec, tmp_path)
    first.run(order)
    collect(first, lambda e: isinstance(e, RoundProgress) and e.step >= 12)
    second = TrainingWorker()
    try:
        second.run(order)  # the same round and folder, while the first still trains in it
        time.sleep(3.0)  # a spawn and a torch import: without the lock it would have started (from step 0) by now
        waiting = second.poll()
        assert not [e for e in waiting if isinstance(e, RoundStarted)], "trained beside the folder's writer"
        second.pause()  # a command while it waits: answered at once, nothing ran
        answered = collect(second, lambda e: isinstance(e, RoundPaused))
        assert answered[-1] == RoundPaused(None) and second.order == order, answered
        second.resume()

        first.pause()  # the first saves its exact step and lets the folder go
        paused = collect(first, lambda e: isinstance(e, RoundPaused))[-1]
        assert isinstance(paused, RoundPaused) and paused.step is not None and 12 <= paused.step < spec.local_steps
        first.forget()

        started = collect(second, lambda e: isinstance(e, RoundStarted))[-1]
        assert started == RoundStarted(TASK_ID, 0, resumed_from=paused.step, device="cpu")
        collect(second, lambda e: isinstance(e, RoundProgress) and e.step > paused.step)  # type: ignore[operator]
        second.forget()
        collect(second, lambda e: isinstance(e, RoundPaused))
    finally:
        second.shutdown(timeout=30)
