"""A miner node's rounds train in its worker process, and the receipt is signed there once, by the node's key.

One test runs the real thing (a spawned worker training the demo task on the CPU, its data fetched from a
"peer" into the node's empty blob store first); the others drive `NodeTrainer` with a scripted worker, so the
failure paths cost no process start.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch

from app.core import crypto
from app.core.blobstore import BlobStore
from app.core.types import NO_SIGNATURE, TaskSpec, WorkReceipt
from app.miner import demo, loop as miner_loop
from app.miner.loop import RoundJob, RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.miner.worker import RoundDone, RoundFailed, WorkerCrashed, WorkerEvent, WorkOrder
from app.node.loop import EventLoop
from app.node.training import NodeTrainer
from app.node.work import TrainingWork
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import load_dataset
from app.pot.proof import TrainingTrace

pytestmark = pytest.mark.filterwarnings("ignore:resource_tracker:UserWarning")

KEY = crypto.SigningKey.from_seed(bytes([5]) * 32)
CHAIN, TASK_ID, ANCHOR = "pot-devnet", bytes(range(32)), bytes([7]) * 32
TIMEOUT_S = 120.0  # a spawned worker imports torch on a shared 2-core box


def job_for(spec: TaskSpec, round_number: int = 0, base: bytes | None = None) -> RoundJob:
    return RoundJob(CHAIN, TASK_ID, spec, round_number, ANCHOR, base or spec.initial_checkpoint)


def no_peer(what: object) -> Any:
    raise ConnectionError("no peer serves it")


@contextmanager
def running(loop: EventLoop) -> Iterator[EventLoop]:
    thread = threading.Thread(target=loop.run, name="test-node-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.stop()
        thread.join(10)


def until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if cond():
            return
        done.wait(0.05)
    raise AssertionError("timed out")


class Delivered:
    """The trainer's `deliver`: what came back signed, and on which thread."""

    def __init__(self) -> None:
        self.receipts: list[tuple[WorkReceipt, TrainingTrace]] = []
        self.threads: list[str] = []
        self.event = threading.Event()

    def __call__(self, receipt: WorkReceipt, trace: TrainingTrace) -> None:
        self.receipts.append((receipt, trace))
        self.threads.append(threading.current_thread().name)
        self.event.set()


def test_a_miner_node_trains_in_its_worker_process_and_signs_the_receipt_once_with_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = demo.task_spec(local_steps=8, checkpoint_interval=4, batch_size=8)
    peer = MemoryBlobStore()
    demo.seed_blobs(peer, spec)
    node_blobs = BlobStore(tmp_path / "blobs")  # empty: the round's data comes from the peer first
    work = TrainingWork(CHAIN, node_blobs, peer.get, no_peer, manifest=demo.manifest_for_root)
    in_process: list[str] = []

    def no_training_here(*args: object, **kw: object) -> int:
        in_process.append(threading.current_thread().name)
        raise AssertionError("a miner node must not train in its own process")

    monkeypatch.setattr(miner_loop, "run_steps", no_training_here)  # the spawned worker imports its own
    delivered = Delivered()
    loop = EventLoop()
    trainer = NodeTrainer(
        loop=loop, key=KEY, work=work, resume_root=tmp_path / "resume", is_open=lambda j: True, deliver=delivered
    )
    try:
        with running(loop):
            loop.post(trainer.schedule, job_for(spec))
            assert delivered.event.wait(TIMEOUT_S), "no receipt came back from the worker"
            pid = trainer.worker_pid
            assert pid is not None and pid != os.getpid()
            assert psutil.Process(pid).ppid() == os.getpid()  # the node's own child, started for the round
            assert trainer.trained == 1 and trainer.failed == 0
    finally:
        trainer.close()
    assert not trainer.worker.alive and in_process == []
    ((receipt, trace),) = delivered.receipts
    assert delivered.threads == ["test-node-loop"]  # handed over on the node's loop
    receipt.verify_signature()  # signed by the node's real key
    assert receipt.miner == KEY.public_key and receipt.signature != NO_SIGNATURE
    assert all(node_blobs.has(s) for s in demo.manifest_for_root(spec.dataset_root).shards)
    monkeypatch.undo()
    # bit for bit the round trained in-process with the key (the worker ran one thread, as the node's default)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_dataset(peer, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
        cpu, resume = torch.device("cpu"), ResumeDir(tmp_path / "r")
        ref = train_round(job_for(spec), KEY, peer, data, device=cpu, resume=resume)
    finally:
        torch.set_num_threads(threads)
    assert isinstance(ref, RoundOutput) and (receipt, trace) == (ref.receipt, ref.trace)


@dataclass
class ScriptedWorker:
    """Stands in for `TrainingWorker`: records orders, answers `poll` with scripted events."""

    script: Callable[[WorkOrder], list[WorkerEvent]]
    orders: list[WorkOrder] = field(default_factory=list)
    order: WorkOrder | None = None
    pending: list[WorkerEvent] = field(default_factory=list)
    restarts: int = 0
    alive: bool = True
    pid: int = 4242

    def start(self) -> None:
        self.alive = True

    def run(self, order: WorkOrder) -> None:
        self.orders.append(order)
        self.order = order
        self.pending.extend(self.script(order))

    def poll(self) -> list[WorkerEvent]:
        events, self.pending = self.pending, []
        for e in events:
            if isinstance(e, (RoundDone, RoundFailed)):
                self.order = None
        return events

    def forget(self) -> None:
        self.order = None

    def shutdown(self, timeout: float = 30.0) -> None:
        self.alive = False


def unsigned_done(order: WorkOrder) -> RoundDone:
    job = order.job
    receipt = WorkReceipt(
        chain_id=job.chain_id,
        task_id=job.task_id,
        round=job.round,
        miner=order.miner,
        base_checkpoint=job.base_checkpoint,
        commitments_root=bytes(32),
        update_hash=bytes(32),
        steps=job.spec.local_steps,
        final_loss_micro=1,
        device_class="cpu",
        signature=NO_SIGNATURE,
    )
    return RoundDone(receipt, TrainingTrace(checkpoints=(job.base_checkpoint,), samples=1), bytes(32))


def scripted_trainer(
    tmp_path: Path, script: Callable[[WorkOrder], list[WorkerEvent]], is_open: Callable[[RoundJob], bool]
) -> tuple[NodeTrainer, ScriptedWorker, Delivered, EventLoop]:
    spec = demo.task_spec(local_steps=8, checkpoint_interval=4, batch_size=8)
    blobs = BlobStore(tmp_path / "blobs")
    demo.seed_blobs(blobs, spec)
    work = TrainingWork(CHAIN, blobs, no_peer, no_peer, manifest=demo.manifest_for_root)
    worker, delivered, loop = ScriptedWorker(script), Delivered(), EventLoop()
    trainer = NodeTrainer(
        loop=loop,
        key=KEY,
        work=work,
        resume_root=tmp_path / "resume",
        is_open=is_open,
        deliver=delivered,
        worker=worker,  # type: ignore[arg-type]
    )
    return trainer, worker, delivered, loop


def test_a_failed_round_a_crash_loop_and_missing_data_are_logged_and_the_next_round_trains(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def script(order: WorkOrder) -> list[WorkerEvent]:
        r = order.job.round
        if r == 1:
            return [RoundFailed(order.job.task_id, r, "out-of-memory", "the GPU is full")]
        if r == 2:
            return [WorkerCrashed(-9, restarted=False, resumed=False, crashes_in_a_row=4)]
        return [unsigned_done(order)]

    trainer, worker, delivered, loop = scripted_trainer(tmp_path, script, lambda job: job.round != 4)
    spec = demo.task_spec(local_steps=8, checkpoint_interval=4, batch_size=8)
    caplog.set_level("INFO", logger="app.node.node")
    with running(loop):
        loop.post(trainer.schedule, job_for(spec, 1))  # fails in the worker
        loop.post(trainer.schedule, job_for(spec, 2))  # the worker dies for good
        loop.post(trainer.schedule, job_for(spec, 9, base=bytes([0xAB]) * 32))  # no peer serves its base
        loop.post(trainer.schedule, job_for(spec, 4))  # closed before its turn
        loop.post(trainer.schedule, job_for(spec, 3))  # trains
        until(lambda: trainer.trained + trainer.failed == 4)  # (the data fetches finish in any order)
    assert sorted(o.job.round for o in worker.orders) == [1, 2, 3]
    ((receipt, _),) = delivered.receipts
    assert receipt.round == 3
    receipt.verify_signature()
    assert trainer.trained == 1 and trainer.failed == 3
    text = caplog.text
    assert "round 1 of task" in text and "out-of-memory: the GPU is full" in text
    assert "killed by SIGKILL, 4 times in a row; round 2 of task" in text and "given up" in text
    assert "cannot train round 9" in text and "round 4 of task" in text and "skipped" in text


def test_a_receipt_for_another_key_is_not_signed(tmp_path: Path) -> None:
    other = crypto.SigningKey.from_seed(bytes([6]) * 32)

    def script(order: WorkOrder) -> list[WorkerEvent]:
        done = unsigned_done(order)
        return [RoundDone(done.receipt.replace(miner=other.public_key), done.trace, done.update_hash)]

    trainer, worker, delivered, loop = scripted_trainer(tmp_path, script, lambda job: True)
    spec = demo.task_spec(local_steps=8, checkpoint_interval=4, batch_size=8)
    with running(loop):
        loop.post(trainer.schedule, job_for(spec, 0))
        until(lambda: trainer.failed == 1)
    assert trainer.failed == 1 and delivered.receipts == []
