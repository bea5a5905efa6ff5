"""The daemon's side of mining: feeds the node's open rounds to the `MiningController` and its events
to the event bus, and holds the controller only while the wallet's reward key is unlocked.

The state machine itself (gate, worker, pause/resume, crash handling) is `app.miner.controller`.
This module adds what only the daemon knows: which rounds the chain has open (offered by the node's
loop, then made local by a preparer thread, because fetching blobs may take a while and must block
neither the node nor the controller), where receipts go (gossip), and the wallet (no key, no mining:
the state is then `paused` with reason `wallet-locked`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.crypto import SigningKey
from app.core.types import WorkReceipt
from app.daemon import events as ev
from app.daemon.events import EventBus
from app.miner import controller as mc, worker as w
from app.miner.demo import manifest_for_root
from app.miner.loop import RoundJob
from app.miner.policy import Clock, GateSources, MiningGate, Preferences
from app.pot.datasets import DatasetManifest
from app.pot.proof import TrainingTrace

log = logging.getLogger(__name__)

PUMP_S = 0.25
WALLET_LOCKED = "wallet-locked"
MAX_CURVE_POINTS = 500  # progress reports kept for the current round's loss curve
PROGRESS_EVENT_S = 0.5  # at most ~2 `mining_progress` events a second


@dataclass(frozen=True)
class MiningHooks:
    """What mining needs from the node, as plain callables (tests give them without a node)."""

    prepare: Callable[[RoundJob], None]  # make the round's blobs local (may block on the network)
    publish: Callable[[WorkReceipt, TrainingTrace], None]  # gossip a signed receipt
    is_open: Callable[[RoundJob], bool]  # whether the chain still wants this round
    # dataset root -> its shard list: shipped data, or a requester's own (known after `prepare`)
    manifest: Callable[[bytes], DatasetManifest] = manifest_for_root


class MiningService:
    """Threads: `mining` (samples and pumps the controller) and `round-prep` (fetches round data)."""

    def __init__(
        self,
        bus: EventBus,
        prefs: Preferences,
        sources: GateSources,
        clock: Clock,
        hooks: MiningHooks,
        settings: mc.MinerSettings,
        switched_on: bool = True,
        worker: w.TrainingWorker | None = None,
    ) -> None:
        self.bus = bus
        self.hooks = hooks
        self.settings = settings
        self.worker = worker or w.TrainingWorker()
        self._prefs, self._sources, self._clock = prefs, sources, clock
        self._on = switched_on
        self._ctrl: mc.MiningController | None = None
        self._ctrl_lock = threading.Lock()
        self._ready: dict[bytes, w.RoundTask] = {}  # task id -> newest prepared round
        self._ready_lock = threading.Lock()
        self._jobs: queue.Queue[RoundJob | None] = queue.Queue()
        self._stop = threading.Event()
        self._extra: dict[str, Any] = {
            "resumed_from": None,
            "paused_at": None,
            "rounds_done": 0,
            "device": None,
            "device_name": None,
            "device_load": None,
            "temperature_c": None,
            "model": None,
        }
        self._curve: list[list[float]] = []  # [[step, training loss], ...] of the round below
        self._curve_round: tuple[bytes, int] | None = None
        self._threads = [
            threading.Thread(target=self._run, name="mining", daemon=True),
            threading.Thread(target=self._prepare_loop, name="round-prep", daemon=True),
        ]
        self._last_state: tuple[str, str] | None = None
        self._progress_sent_at: float | None = None
        self._snoozed_until: float | None = None  # monotonic end of "pause for 1 hour", kept across keys
        self.limits: Callable[[], dict[str, Any]] = dict  # the daemon's disk and temperature facts

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        for t in self._threads:
            t.start()
        self._announce(self.snapshot())

    def stop(self) -> None:
        """Save the round (the worker pauses at the next step) and end the worker and threads."""
        self._stop.set()
        self._jobs.put(None)
        for t in self._threads:
            t.join(30)
        with self._ctrl_lock:
            if self._ctrl is not None:
                self._ctrl.close()
        self.worker.shutdown()

    # -- inputs (any thread) --------------------------------------------------------------------
    def offer(self, job: RoundJob) -> None:
        """A round the chain opened; called on the node's loop, so it only enqueues."""
        self._jobs.put(job)

    def set_key(self, key: SigningKey | None) -> None:
        """The unlocked reward key (a new controller signs with it), or None: lock means no mining."""
        with self._ctrl_lock:
            old, self._ctrl = self._ctrl, None
            if old is not None:
                old.close()  # saves the round; a new key is a new miner, its own rounds
            if key is not None:
                self._ctrl = mc.MiningController(
                    prefs=self._prefs,
                    sources=self._sources,
                    clock=self._clock,
                    key=key,
                    settings=self.settings,
                    next_round=self._next_round,
                    on_event=self._on_event,
                    worker=self.worker,
                )
                if self._on:
                    self._ctrl.start()
                left = None if self._snoozed_until is None else self._snoozed_until - time.monotonic()
                if left is not None and left > 1:
                    self._ctrl.snooze(left)
        self._announce(self.snapshot())

    def start_mining(self) -> dict[str, Any]:
        self._on = True
        return self._with_ctrl(lambda c: c.start())

    def stop_mining(self) -> dict[str, Any]:
        self._on = False
        return self._with_ctrl(lambda c: c.stop())

    def pause(self) -> dict[str, Any]:
        return self._with_ctrl(lambda c: c.pause())

    def resume(self) -> dict[str, Any]:
        self._snoozed_until = None
        return self._with_ctrl(lambda c: c.resume())

    def snooze(self, seconds: float) -> dict[str, Any]:
        """ "Pause for 1 hour" (the window's and the tray's): the round is saved; mining resumes by itself."""
        self._snoozed_until = time.monotonic() + seconds
        return self._with_ctrl(lambda c: c.snooze(seconds))

    def set_preferences(self, prefs: Preferences) -> dict[str, Any]:
        self._prefs = prefs
        return self._with_ctrl(lambda c: c.set_preferences(prefs))

    def _with_ctrl(self, action: Callable[[mc.MiningController], Any]) -> dict[str, Any]:
        with self._ctrl_lock:
            if self._ctrl is not None:
                action(self._ctrl)
        snap = self.snapshot()
        self._announce(snap)
        return snap

    def snapshot(self) -> dict[str, Any]:
        """The controller's status (state, reason code, text, round, step, ...) plus the daemon's extras."""
        ctrl = self._ctrl
        if ctrl is None:
            base = {
                "state": "paused",
                "reason": WALLET_LOCKED,
                "task_id": None,
                "round": None,
                "step": 0,
                "total_steps": 0,
                "loss": None,
                "samples_per_s": None,
                "restarts": self.worker.restarts,
                "text": "Paused: unlock the wallet to mine (rewards go to its reward key)",
            }
            if not self._on:
                base.update(state="off", reason="", text="Mining is off")
        else:
            base = ctrl.status.to_json()
        curve = (
            self._curve
            if self._curve_round is not None
            and base.get("task_id") == self._curve_round[0].hex()
            and base.get("round") == self._curve_round[1]
            else []
        )
        return (
            base
            | dict(self._extra)
            | {"loss_curve": [list(p) for p in curve], "switched_on": self._on, "worker_pid": self.worker.pid}
            | self.limits()
        )

    # -- the threads ----------------------------------------------------------------------------
    def _run(self) -> None:
        due = 0.0
        while not self._stop.is_set():
            ctrl = self._ctrl
            if ctrl is None:
                self._stop.wait(PUMP_S)
                continue
            try:
                if time.monotonic() >= due:  # the cadence is real time; the policy reads the injected clock
                    due = time.monotonic() + MiningGate.SAMPLE_INTERVAL_S
                    ctrl.sample()
                ctrl.pump(PUMP_S)
            except Exception:  # the thread must outlive one bad sample; the log says what broke
                log.exception("mining: controller step failed")
                self._stop.wait(1.0)

    def _prepare_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._stop.is_set():
                return
            try:
                if not self.hooks.is_open(job):
                    continue
                self.hooks.prepare(job)
                task = w.RoundTask(job, self.hooks.manifest(job.spec.dataset_root))
            except Exception as exc:  # unreachable data or an unknown dataset: say so, try the next round
                log.warning("mining: cannot prepare round %d of %s: %s", job.round, job.task_id.hex()[:16], exc)
                self.bus.publish(
                    ev.DaemonWarning(message=f"cannot fetch the data of round {job.round}: {exc}", source="miner")
                )
                continue
            with self._ready_lock:
                self._ready[job.task_id] = task
            log.info("mining: round %d of %s is ready to train", job.round, job.task_id.hex()[:16])
            with self._ctrl_lock:
                if self._ctrl is not None:
                    self._ctrl.refresh()

    def _next_round(self) -> w.RoundTask | None:
        with self._ready_lock:
            tasks = sorted(self._ready.items())
        for _, task in tasks:
            if self.hooks.is_open(task.job):
                return task
        return None

    # -- controller events (under the controller's lock: quick) ---------------------------------
    def _on_event(self, event: mc.ControllerEvent) -> None:
        if isinstance(event, mc.StateChanged):
            self._announce(event.status.to_json())
        elif isinstance(event, mc.RoundFinished):
            self._extra["rounds_done"] += 1
            try:
                self.hooks.publish(event.receipt, event.trace)
            except Exception as exc:  # the node is stopping or stuck: the receipt is lost, say so
                log.warning("mining: could not publish the receipt of round %d: %s", event.receipt.round, exc)
            log.info("mining: round %d done; receipt %s sent", event.receipt.round, event.receipt.receipt_id.hex()[:16])
        elif isinstance(event, w.RoundProgress):
            self._progress(event)
        elif isinstance(event, w.RoundStarted):
            self._extra.update(
                resumed_from=event.resumed_from,
                paused_at=None,
                device=event.device,
                model=self._model_of(event.task_id),
            )
            if self._curve_round != (event.task_id, event.round):  # a resumed round keeps its curve
                self._curve, self._curve_round = [], (event.task_id, event.round)
            log.info("mining: round %d started at step %d on %s", event.round, event.resumed_from, event.device)
        elif isinstance(event, w.RoundPaused) and event.step is not None:
            self._extra["paused_at"] = event.step
            log.info("mining: round saved at step %d", event.step)
        elif isinstance(event, w.RoundFailed):
            self._warn(f"training round {event.round} failed ({event.reason}): {event.detail}")
        elif isinstance(event, w.WorkerCrashed):
            again = "; restarted it" if event.restarted else "; it keeps crashing, mining holds (see the log)"
            self._warn(f"the training worker {event.description}{again}")

    def _progress(self, event: w.RoundProgress) -> None:
        if self._curve_round != (event.task_id, event.round):
            self._curve, self._curve_round = [], (event.task_id, event.round)
        if not self._curve or event.step > self._curve[-1][0]:  # a new list: snapshot() reads from other threads
            self._curve = [*self._curve, [event.step, float(event.loss)]][-MAX_CURVE_POINTS:]
        if event.stats is not None:
            self._extra.update(
                device_name=event.stats.name,
                device_load=event.stats.utilization_pct,
                temperature_c=event.stats.temperature_c,
            )
        now = time.monotonic()
        last = event.step >= event.total_steps
        if last or self._progress_sent_at is None or now - self._progress_sent_at >= PROGRESS_EVENT_S:
            self._progress_sent_at = now
            self.bus.publish(
                ev.MiningProgress(
                    task_id=event.task_id.hex(),
                    round=event.round,
                    step=event.step,
                    total_steps=event.total_steps,
                    loss=float(event.loss),
                    samples_per_s=float(event.samples_per_s),
                    device_load=self._extra["device_load"],
                    temperature_c=self._extra["temperature_c"],
                )
            )

    def _model_of(self, task_id: bytes) -> str | None:
        with self._ready_lock:
            task = self._ready.get(task_id)
        return task.job.spec.model if task is not None else None

    def _warn(self, message: str) -> None:
        log.warning("mining: %s", message)
        self.bus.publish(ev.DaemonWarning(message=message, source="miner"))

    def _announce(self, status: dict[str, Any]) -> None:
        key = (status["state"], status["reason"])
        if key != self._last_state:
            self._last_state = key
            self.bus.publish(ev.MiningState(state=status["state"], reason=status["reason"]))


def settings_for(
    blob_dir: Path, resume_dir: Path, device: w.DeviceSettings, report_every: int = 10
) -> mc.MinerSettings:
    return mc.MinerSettings(
        blob_dir=str(blob_dir), resume_dir=str(resume_dir), device=device, report_every=report_every
    )
