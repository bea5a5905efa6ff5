"""The mining state machine: what the miner is doing now, why, and keeping the worker in line with it.

It combines three things: the user's switch (`start`/`stop`) and pause button, the `MiningGate`'s
decision (idle time, battery, schedule, exclusive apps, temperature) and the training worker's life
(rounds finishing, failing, the process crashing). The result is one `Status`:

    off                 the user switched mining off (the worker process is stopped)
    waiting(reason)     waiting for the computer to be idle (`user-active`, `idle-unavailable`) or for
                        an open round (`no-task`)
    mining              the worker trains a round
    paused(reason)      a gate reason holds mining (`user-paused`, `on-battery`, `gpu-hot`, ...)
    error(reason)       the round failed (the worker's reason) or the worker keeps crashing
                        (`worker-crash-loop`); retried after `retry_after_s`, or at once by `start`

A paused or waiting round keeps its state on disk (the worker saves it at the next step), so mining
on and off never loses its work. Where the next round comes from is the daemon's business: it passes
`next_round`, which returns the node's open `RoundTask` whose blobs are already in the blob store, or
None. Everything the window and RPC need leaves through `on_event` (state changes, progress, finished
rounds with their signed receipt, failures, crashes) and the `status` property.

Threads: `run` (or `sample` and `pump`) belongs to one miner thread; the RPC may call `start`, `stop`,
`pause`, `resume`, `set_preferences`, `refresh` and `status` from others. One lock serialises them,
and `on_event` is called under it, so it must be quick (the daemon's EventBus enqueues and returns).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from app.core import crypto
from app.core.types import WorkReceipt
from app.miner.policy import Clock, Decision, GateSources, MiningGate, Preferences, Reason, Suspend
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
from app.pot.proof import TrainingTrace

log = logging.getLogger(__name__)

NO_TASK = "no-task"
CRASH_LOOP = "worker-crash-loop"
BAD_RECEIPT = "unsigned-receipt"
WAITING_REASONS = (Reason.USER_ACTIVE, Reason.IDLE_UNAVAILABLE)  # the rest of the gate's reasons are pauses


class State(enum.Enum):
    OFF = "off"
    WAITING = "waiting"
    MINING = "mining"
    PAUSED = "paused"
    ERROR = "error"


@dataclass(frozen=True)
class Status:
    """What the window and `potminer status` show; `reason` is a stable code, `text` the line to show."""

    state: State
    reason: str
    text: str
    task_id: bytes | None = None
    round: int | None = None
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    samples_per_s: float | None = None
    restarts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "reason": self.reason,
            "text": self.text,
            "task_id": self.task_id.hex() if self.task_id is not None else None,
            "round": self.round,
            "step": self.step,
            "total_steps": self.total_steps,
            "loss": self.loss,
            "samples_per_s": self.samples_per_s,
            "restarts": self.restarts,
        }


@dataclass(frozen=True)
class StateChanged:
    """The state or its reason changed (not sent for the idle countdown; read `status` for that)."""

    status: Status


@dataclass(frozen=True)
class RoundFinished:
    """A round is done: the receipt is signed by the miner key and its blobs are in the blob store."""

    receipt: WorkReceipt
    trace: TrainingTrace
    update_hash: bytes


ControllerEvent = (
    StateChanged | RoundFinished | RoundStarted | RoundProgress | RoundPaused | RoundFailed | WorkerCrashed
)


@dataclass(frozen=True)
class MinerSettings:
    """Where the worker keeps its files and how it uses the device."""

    blob_dir: str
    resume_dir: str
    device: DeviceSettings = DeviceSettings()
    report_every: int = 10
    retry_after_s: float = 60.0  # after a failed round or a crash loop


class MiningController:
    """Drives the training worker from the user's choices and the mining gate; see the module doc."""

    def __init__(
        self,
        *,
        prefs: Preferences,
        sources: GateSources,
        clock: Clock,
        key: crypto.SigningKey,
        settings: MinerSettings,
        next_round: Callable[[], RoundTask | None],
        on_event: Callable[[ControllerEvent], None],
        worker: TrainingWorker | None = None,
    ) -> None:
        self._gate = MiningGate(prefs, sources, clock, on_change=lambda _d: None)
        self._clock = clock
        self._key = key
        self._settings = settings
        self._next_round = next_round
        self._emit = on_event
        self._worker = worker if worker is not None else TrainingWorker()
        self._lock = threading.RLock()
        self._on = False
        self._decision: Decision | None = None
        self._task: RoundTask | None = None
        self._finished: set[tuple[bytes, int]] = set()
        self._progress: RoundProgress | None = None
        self._step = 0
        self._error: tuple[str, str, float] | None = None  # reason, detail, when (monotonic)
        self._status = Status(State.OFF, "", "Mining is off")

    # ---------------------------------------------------------------- the user's controls

    def start(self) -> Status:
        """Switch mining on (clears a pause by the user and any error)."""
        with self._lock:
            self._on, self._error = True, None
            self._decision = self._gate.resume()
            return self._update()

    def stop(self) -> Status:
        """Switch mining off: the round is saved to disk and the worker process exits (frees the GPU)."""
        with self._lock:
            self._on = False
            status = self._update()
            self._worker.shutdown()
            return status

    def pause(self) -> Status:
        """The user's pause button: holds the round until `resume`."""
        with self._lock:
            self._decision = self._gate.pause()
            return self._update()

    def resume(self) -> Status:
        with self._lock:
            self._decision = self._gate.resume()
            return self._update()

    def snooze(self, seconds: float) -> Status:
        """ "Pause for 1 hour": saves the round like a pause; mining resumes by itself afterwards."""
        with self._lock:
            self._decision = self._gate.snooze(seconds)
            return self._update()

    def set_preferences(self, prefs: Preferences) -> Status:
        with self._lock:
            self._decision = self._gate.set_preferences(prefs)
            return self._update()

    def refresh(self) -> Status:
        """Ask `next_round` again now (the daemon calls this when the open rounds change)."""
        with self._lock:
            if self._status.state is State.MINING:
                self._choose_task()
            return self._update()

    @property
    def status(self) -> Status:
        """The current status, with the gate's live text (e.g. the idle countdown)."""
        with self._lock:
            s = self._status
            if s.state in (State.WAITING, State.PAUSED) and s.reason != NO_TASK and self._decision is not None:
                return replace(s, text=self._decision.text)
            return s

    # ---------------------------------------------------------------- the miner thread

    def sample(self) -> Status:
        """Read the machine once (the gate) and act on it; call every `MiningGate.SAMPLE_INTERVAL_S`."""
        with self._lock:
            self._decision = self._gate.sample()
            return self._update()

    def pump(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the worker, then handle whatever it reported."""
        self._worker.wait(timeout)  # outside the lock: the RPC's calls must not wait for training
        with self._lock:
            for event in self._worker.poll():
                self._handle(event)

    def run(self, stop: threading.Event) -> None:
        """The miner thread's loop until `stop` is set: sample every second, handle the worker between."""
        interval = MiningGate.SAMPLE_INTERVAL_S
        due = self._clock.monotonic()
        while not stop.is_set():
            now = self._clock.monotonic()
            if now >= due:
                self.sample()
                due = now + interval
            self.pump(min(max(due - self._clock.monotonic(), 0.0), interval))

    def close(self) -> None:
        """Save the round and stop the worker process (the daemon's ordered shutdown)."""
        with self._lock:
            self._worker.shutdown()

    # ---------------------------------------------------------------- the state machine

    def _target(self) -> tuple[State, str, str]:
        """The state the inputs call for now (choosing a round when mining may start)."""
        if not self._on:
            return State.OFF, "", "Mining is off"
        if self._error is not None:
            reason, detail, since = self._error
            if self._clock.monotonic() - since < self._settings.retry_after_s:
                return State.ERROR, reason, f"Error: {detail or reason} (retrying soon)"
            self._error = None
        decision = self._decision
        if isinstance(decision, Suspend):
            state = State.WAITING if decision.reason in WAITING_REASONS else State.PAUSED
            return state, decision.reason.value, decision.text
        if decision is None:
            return State.WAITING, "", "Starting"
        if self._task is None or self._status.state is not State.MINING:
            self._choose_task()  # entering mining: the open round may have changed meanwhile
        if self._task is None:
            return State.WAITING, NO_TASK, "Waiting: no open round on the network"
        job = self._task.job
        return State.MINING, "", f"Mining round {job.round} of task {job.task_id.hex()[:12]}"

    def _update(self) -> Status:
        state, reason, text = self._target()
        if state is State.MINING:
            order = self._order(self._task)  # type: ignore[arg-type]
            if self._worker.order != order or not self._worker.running:
                self._worker.run(order)
        else:
            self._worker.pause()
        self._set_status(state, reason, text)
        return self._status

    def _choose_task(self) -> None:
        try:
            task = self._next_round()
        except Exception:  # the node's view may be mid-update; ask again at the next sample
            log.exception("miner: next_round failed")
            task = None
        if task is not None and (task.job.task_id, task.job.round) in self._finished:
            task = None  # already mined and handed in; the node has not moved on yet
        if task != self._task:
            self._task, self._progress, self._step = task, None, 0

    def _order(self, task: RoundTask) -> WorkOrder:
        s = self._settings
        return WorkOrder(task, self._key.public_key, s.blob_dir, s.resume_dir, s.device, s.report_every)

    def _set_status(self, state: State, reason: str, text: str) -> None:
        job = self._task.job if self._task is not None else None
        p = self._progress
        new = Status(
            state,
            reason,
            text,
            task_id=job.task_id if job else None,
            round=job.round if job else None,
            step=self._step,
            total_steps=job.spec.local_steps if job else 0,
            loss=p.loss if p else None,
            samples_per_s=p.samples_per_s if p else None,
            restarts=self._worker.restarts,
        )
        changed = (new.state, new.reason) != (self._status.state, self._status.reason)
        self._status = new
        if changed:
            log.info("miner: %s%s", state.value, f" ({reason})" if reason else "")
            self._emit(StateChanged(new))

    # ---------------------------------------------------------------- the worker's reports

    def _current(self, task_id: bytes, round_number: int) -> bool:
        return self._task is not None and (self._task.job.task_id, self._task.job.round) == (task_id, round_number)

    def _handle(self, event: WorkerEvent) -> None:
        if isinstance(event, RoundDone):
            self._finish(event)
            return
        if isinstance(event, (RoundStarted, RoundProgress)) and not self._current(event.task_id, event.round):
            return  # a report of a round we have since moved away from
        self._emit(event)
        if isinstance(event, RoundStarted):
            self._step = event.resumed_from
            self._set_status(self._status.state, self._status.reason, self._status.text)
        elif isinstance(event, RoundProgress):
            self._progress, self._step = event, event.step
            self._set_status(self._status.state, self._status.reason, self._status.text)
        elif isinstance(event, RoundFailed):
            log.warning(
                "miner: round %d of task %s failed: %s: %s",
                event.round,
                event.task_id.hex()[:16],
                event.reason,
                event.detail,
            )
            if self._current(event.task_id, event.round):
                self._fail(event.reason, event.detail)
        elif isinstance(event, WorkerCrashed):
            log.warning("miner: training worker %s (restarted: %s)", event.description, event.restarted)
            if not event.restarted:
                self._fail(
                    CRASH_LOOP, f"the training worker {event.description}, {event.crashes_in_a_row} times in a row"
                )
            else:
                self._set_status(self._status.state, self._status.reason, self._status.text)

    def _finish(self, done: RoundDone) -> None:
        """Sign and hand in a finished round (even one we had moved away from: the work is done)."""
        r = done.receipt
        try:
            signed = r.signed_by(self._key)
        except ValueError as exc:  # the miner key changed while the round trained
            log.error("miner: cannot sign the receipt of round %d: %s", r.round, exc)
            self._fail(BAD_RECEIPT, str(exc))
            return
        self._finished.add((r.task_id, r.round))
        if self._current(r.task_id, r.round):
            self._task, self._progress, self._step = None, None, 0
        self._emit(RoundFinished(signed, done.trace, done.update_hash))
        self._update()  # the next round, if mining goes on

    def _fail(self, reason: str, detail: str) -> None:
        self._error = (reason, detail, self._clock.monotonic())
        self._task, self._progress, self._step = None, None, 0
        self._worker.forget()
        self._update()
