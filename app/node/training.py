"""A miner node's training: every round in the training worker process, its receipt signed here, once.

Training holds the GIL for seconds at a time, and a crash or an out-of-memory kill in it must not take
the node down; so a miner node trains the way the daemon does, in `app.miner.worker`'s child process,
and its event loop never trains and never waits. `NodeTrainer.schedule(job)` (on the loop) has the
round's data (base checkpoint, the dataset's shards) fetched into the node's blob store on an I/O
thread, then queues a `WorkOrder`. The worker process, started with the node (`start`) and stopped with
the node (so its spawn and torch import are paid once per node, not per round), trains one round at a
time under the miner's public key and hands the receipt back unsigned; `tick`, a timer on the loop,
signs it with the node's key and delivers it (trace stored, receipt gossiped). A failed round or a
crashed worker is logged and the next round goes on; a round that closed while queued is dropped.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path

from app.core.crypto import SigningKey
from app.core.state import ChainState
from app.core.tasks import TASK_OPEN
from app.core.types import WorkReceipt
from app.miner.loop import RoundJob
from app.miner.worker import (
    DeviceSettings,
    RoundDone,
    RoundFailed,
    RoundStarted,
    RoundTask,
    TrainingWorker,
    WorkerCrashed,
    WorkerError,
    WorkerEvent,
    WorkOrder,
)
from app.node.loop import EventLoop
from app.node.work import TrainingWork
from app.pot.proof import TrainingTrace

log = logging.getLogger("app.node.node")  # the node's log lines keep one logger name, whichever part writes them

POLL_S = 0.2  # how often the loop looks at the worker's pipe (a non-blocking poll) once it is started
REPORT_EVERY = 50  # steps between the worker's progress messages: the node only logs the round's end
SHUTDOWN_S = 8.0  # the worker saves and exits within this at the node's stop (a devnet's grace is 10 s)

# The node's default for its own rounds: the CPU with one intra-op thread, as the node's other work runs.
NODE_DEVICE = DeviceSettings(preference="cpu", cpu_threads=1)

Deliver = Callable[[WorkReceipt, TrainingTrace], None]  # a signed receipt and its trace, on the loop


def round_is_open(state: ChainState, job: RoundJob) -> bool:
    """Whether `job`'s round is still the open round of its task (else its receipt would come too late)."""
    task = state.task(job.task_id)
    return task is not None and task.status == TASK_OPEN and task.round == job.round


class NodeTrainer:
    """One miner node's rounds, trained in its worker process; see the module docstring. Loop thread only."""

    def __init__(
        self,
        *,
        loop: EventLoop,
        key: SigningKey,
        work: TrainingWork,
        resume_root: Path,
        is_open: Callable[[RoundJob], bool],
        deliver: Deliver,
        device: DeviceSettings = NODE_DEVICE,
        worker: TrainingWorker | None = None,
    ) -> None:
        self.loop, self.key, self.work = loop, key, work
        self.resume_root = resume_root
        self.is_open, self.deliver, self.device = is_open, deliver, device
        self.worker = worker if worker is not None else TrainingWorker()
        self._queue: deque[WorkOrder] = deque()
        self._ticking = False
        self.trained = 0  # rounds finished and delivered
        self.failed = 0  # rounds given up (failed, lost to a crash loop, or their data unavailable)

    # ------------------------------------------------------------------ orders

    def schedule(self, job: RoundJob) -> None:
        """Train round `job`: fetch its data off the loop, then queue it for the worker."""

        def fetched(task: RoundTask | None, error: BaseException | None) -> None:
            if task is None:
                self.failed += 1
                log.error(
                    "cannot train round %d of task %s: its data is not available: %r", job.round, _tid(job), error
                )
                return
            self._queue.append(self._order(task))
            self._dispatch()

        self.loop.run_io(lambda: self._fetch(job), fetched)
        self._start_worker()  # now, so its spawn and torch import overlap the fetch

    def start(self) -> None:
        """Spawn the worker now (the node is starting): its seconds of torch import overlap the node's sync
        and the first round's wait, instead of delaying that round."""
        self._start_worker()

    def _start_worker(self) -> None:
        try:
            self.worker.start()  # idempotent: a running process is kept
        except WorkerError as exc:  # tried again with the order, which reports the round as failed
            log.warning("cannot start the training worker yet: %s", exc)

    def _fetch(self, job: RoundJob) -> RoundTask:
        """The base checkpoint and the dataset's shards into the blob store (blocking; an I/O thread)."""
        self.work.ensure(job.base_checkpoint)
        return RoundTask(job, self.work.ensure_dataset(job.spec))

    def _order(self, task: RoundTask) -> WorkOrder:
        # one folder for every round, as the daemon's: a finished round's record stays until the next round
        # starts, and a sparse round's record goes beside it (`sparse_dir`), where the node's blob server looks
        resume = self.resume_root
        return WorkOrder(task, self.key.public_key, str(self.work.blobs.root), str(resume), self.device, REPORT_EVERY)

    def _dispatch(self) -> None:
        """Hand the next queued round to the worker if it has none (rounds closed meanwhile are dropped)."""
        while self.worker.order is None and self._queue:
            order = self._queue.popleft()
            if not self.is_open(order.job):
                log.info("round %d of task %s closed before it could train; skipped", order.job.round, _tid(order.job))
                continue
            try:
                self.worker.run(order)  # starts the process on the first order
            except WorkerError as exc:
                self.failed += 1
                log.error("cannot train round %d of task %s: %s", order.job.round, _tid(order.job), exc)
                continue
            if not self._ticking:
                self._ticking = True
                self.loop.call_later(POLL_S, self.tick)

    # ------------------------------------------------------------------ the worker's reports

    def tick(self) -> None:
        """Handle what the worker reported (never blocks), then hand it the next round; re-arms itself."""
        for event in self.worker.poll():
            self._handle(event)
        self._dispatch()
        if not self.loop.stopping:
            self.loop.call_later(POLL_S, self.tick)

    def _handle(self, event: WorkerEvent) -> None:
        if isinstance(event, RoundStarted):
            log.info(
                "training round %d of task %s in worker process %s on %s (from step %d)",
                event.round,
                event.task_id.hex()[:16],
                self.worker.pid,
                event.device,
                event.resumed_from,
            )
        elif isinstance(event, RoundDone):
            self._finished(event)
        elif isinstance(event, RoundFailed):
            self.failed += 1
            log.error(
                "training round %d of task %s failed: %s: %s (going on with the next round)",
                event.round,
                event.task_id.hex()[:16],
                event.reason,
                event.detail,
            )
        elif isinstance(event, WorkerCrashed):
            self._crashed(event)

    def _finished(self, done: RoundDone) -> None:
        """Sign the worker's receipt with the node's key (the only signature it gets) and deliver it."""
        try:
            receipt: WorkReceipt = done.receipt.signed_by(self.key)
        except ValueError as exc:  # trained for another key: never ours to hand in
            self.failed += 1
            log.error("cannot sign the receipt of round %d: %s", done.receipt.round, exc)
            return
        self.trained += 1
        log.info("trained round %d: final loss %.4f", receipt.round, receipt.final_loss_micro / 1e6)
        self.deliver(receipt, done.trace)

    def _crashed(self, event: WorkerCrashed) -> None:
        if event.restarted:
            log.warning(
                "training worker %s; restarted it%s",
                event.description,
                " and resumed the round from its last resume point" if event.resumed else "",
            )
            return
        lost = self.worker.order
        self.worker.forget()  # the next round starts a fresh process
        self.failed += lost is not None
        log.error(
            "training worker %s, %d times in a row; %s",
            event.description,
            event.crashes_in_a_row,
            f"round {lost.job.round} of task {_tid(lost.job)} is given up" if lost else "no round was lost",
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def worker_pid(self) -> int | None:
        return self.worker.pid if self.worker.alive else None

    def close(self) -> None:
        """At the node's stop: the worker saves a round in progress and exits."""
        self._queue.clear()
        self.worker.shutdown(timeout=SHUTDOWN_S)


def _tid(job: RoundJob) -> str:
    return job.task_id.hex()[:16]
