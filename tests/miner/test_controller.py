"""The mining controller: the gate's decisions and the user's switch drive a real training worker.

The machine is scripted (a fake idle source and power on an injected clock); the worker is a real
spawned process training the demo task, so "paused" means the process really stopped between steps.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.core.types import TaskSpec
from app.miner import demo
from app.miner.controller import (
    CRASH_LOOP,
    NO_TASK,
    ControllerEvent,
    MinerSettings,
    MiningController,
    RoundFinished,
    State,
    StateChanged,
)
from app.miner.idle.fake import FakeIdleSource
from app.miner.loop import RoundOutput
from app.miner.policy import GateSources, Mode, Preferences
from app.miner.power import PowerState
from app.miner.schedule import parse as parse_schedule
from app.miner.worker import (
    DeviceSettings,
    RoundPaused,
    RoundProgress,
    RoundStarted,
    RoundTask,
    TrainingWorker,
    WorkerCrashed,
)

from .test_worker import KEY, LONG, TIMEOUT_S, reference, round_task, seeded_store

pytestmark = pytest.mark.filterwarnings("ignore:resource_tracker:UserWarning")  # see test_worker.py

IDLE_MINUTES = 5.0


class FakeClock:
    """Monotonic seconds and local wall time, both moved only by the test."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.start = datetime(2024, 1, 1, 12, 0)  # a Monday noon

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)


class Rig:
    """A controller over a scripted machine, a real worker and a round source the test sets."""

    def __init__(self, tmp: Path, spec: TaskSpec, prefs: Preferences, worker: TrainingWorker | None = None) -> None:
        self.clock = FakeClock()
        self.idle = FakeIdleSource(self.clock.monotonic)
        self.power = PowerState(on_battery=False, charge_percent=100.0)
        self.events: list[ControllerEvent] = []
        self.task: RoundTask | None = round_task(spec)
        self.asked = 0
        self.cursor = 0  # events before it were looked at by `pump_until`
        self.worker = worker or TrainingWorker()
        settings = MinerSettings(
            blob_dir=str(seeded_store(tmp / "blobs", spec)),
            resume_dir=str(tmp / "resume"),
            device=DeviceSettings(preference="cpu", cpu_threads=1),
            report_every=4,
            retry_after_s=30.0,
        )
        self.ctl = MiningController(
            prefs=prefs,
            sources=GateSources(self.idle, lambda: self.power),
            clock=self.clock,
            key=KEY,
            settings=settings,
            next_round=self._next_round,
            on_event=self.events.append,
            worker=self.worker,
        )

    def _next_round(self) -> RoundTask | None:
        self.asked += 1
        return self.task

    def seconds(self, n: int) -> None:
        """Let `n` seconds of machine time pass, sampled once a second like the daemon's loop."""
        for _ in range(n):
            self.clock.t += 1
            self.ctl.sample()

    def pump_until(self, cond: Callable[[ControllerEvent], bool]) -> ControllerEvent:
        """Handle the worker's reports until an event not looked at before satisfies `cond`."""
        deadline = time.monotonic() + TIMEOUT_S
        start = self.cursor
        while time.monotonic() < deadline:
            while self.cursor < len(self.events):
                e = self.events[self.cursor]
                self.cursor += 1
                if cond(e):
                    return e
            self.ctl.pump(1.0)
        raise AssertionError(f"timed out; events: {[type(e).__name__ for e in self.events[start:]]}")

    def states(self) -> list[tuple[str, str]]:
        return [(e.status.state.value, e.status.reason) for e in self.events if isinstance(e, StateChanged)]


@pytest.fixture()
def rig_factory(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(spec: TaskSpec, prefs: Preferences, **kw: object) -> Rig:
        rig = Rig(tmp_path / str(len(rigs)), spec, prefs, **kw)  # type: ignore[arg-type]
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.ctl.close()


def test_idle_time_switches_mining_on_and_input_pauses_it_within_one_sample(
    rig_factory: Callable[..., Rig], tmp_path: Path
) -> None:
    spec = demo.task_spec(**LONG)  # type: ignore[arg-type]
    rig = rig_factory(spec, Preferences(mode=Mode.WHEN_IDLE, idle_minutes=IDLE_MINUTES))
    assert rig.ctl.status.state is State.OFF
    rig.ctl.start()
    assert (rig.ctl.status.state, rig.ctl.status.reason) == (State.WAITING, "user-active")

    rig.seconds(int(IDLE_MINUTES * 60) - 1)
    status = rig.ctl.status
    assert status.state is State.WAITING and status.text == "Waiting: computer in use (idle 4:59 of 5:00)"
    assert rig.worker.pid is None and rig.asked == 0  # nothing is started before the machine is idle

    rig.seconds(1)  # idle for N minutes
    assert rig.ctl.status.state is State.MINING and rig.worker.running
    rig.pump_until(lambda e: isinstance(e, RoundProgress) and e.step >= 20)
    assert rig.ctl.status.step >= 20 and rig.ctl.status.loss is not None

    rig.idle.touch()  # the user moves the mouse
    rig.seconds(1)  # the next sample
    status = rig.ctl.status
    assert (status.state, status.reason) == (State.WAITING, "user-active") and not rig.worker.running
    paused = rig.pump_until(lambda e: isinstance(e, RoundPaused))
    assert isinstance(paused, RoundPaused) and paused.step is not None and paused.step < spec.local_steps
    before = len(rig.events)
    rig.ctl.pump(0.5)
    assert not [e for e in rig.events[before:] if isinstance(e, RoundProgress)]  # it really stopped

    rig.seconds(int(IDLE_MINUTES * 60))  # idle again for N minutes: the same round continues
    assert rig.ctl.status.state is State.MINING
    started = rig.pump_until(lambda e: isinstance(e, RoundStarted))
    assert isinstance(started, RoundStarted) and started.resumed_from == paused.step
    done = rig.pump_until(lambda e: isinstance(e, RoundFinished))
    assert isinstance(done, RoundFinished)
    expected: RoundOutput = reference(spec, tmp_path / "ref")
    assert done.receipt == expected.receipt and done.update_hash == expected.update_hash  # nothing lost

    # The node still offers the round just handed in: the controller waits instead of mining it again.
    assert (rig.ctl.status.state, rig.ctl.status.reason) == (State.WAITING, NO_TASK)
    assert rig.states() == [
        ("waiting", "user-active"),
        ("mining", ""),
        ("waiting", "user-active"),
        ("mining", ""),
        ("waiting", NO_TASK),
    ]


def test_each_reason_shows_without_starting_the_worker(rig_factory: Callable[..., Rig]) -> None:
    spec = demo.task_spec(local_steps=8, checkpoint_interval=4, batch_size=8)
    rig = rig_factory(spec, Preferences(mode=Mode.ALWAYS))
    rig.task = None
    assert (rig.ctl.start().state, rig.ctl.status.reason) == (State.WAITING, NO_TASK)
    rig.power = PowerState(on_battery=True, charge_percent=50.0)
    assert (rig.ctl.sample().state, rig.ctl.status.reason) == (State.PAUSED, "on-battery")
    assert rig.ctl.status.text == "Paused: on battery"
    rig.power = PowerState(on_battery=False, charge_percent=100.0)
    rig.ctl.set_preferences(Preferences(mode=Mode.ALWAYS, schedule=parse_schedule("mon-fri 18:00-08:00")))
    status = rig.ctl.status
    assert (status.state, status.reason, status.text) == (
        State.PAUSED,
        "outside-schedule",
        "Paused: outside schedule (resumes 18:00)",
    )
    rig.ctl.set_preferences(Preferences(mode=Mode.ALWAYS))
    assert rig.ctl.pause().reason == "user-paused"
    assert rig.ctl.resume().reason == NO_TASK
    assert rig.ctl.stop().state is State.OFF
    assert rig.ctl.status.to_json()["state"] == "off"
    assert rig.states() == [
        ("waiting", NO_TASK),
        ("paused", "on-battery"),
        ("paused", "outside-schedule"),
        ("waiting", NO_TASK),
        ("paused", "user-paused"),
        ("waiting", NO_TASK),
        ("off", ""),
    ]
    assert rig.worker.pid is None


def test_failed_round_is_an_error_with_its_reason_then_retried_and_a_crash_is_reported(
    rig_factory: Callable[..., Rig],
) -> None:
    spec = demo.task_spec(local_steps=240, checkpoint_interval=8, batch_size=16)
    rig = rig_factory(spec, Preferences(mode=Mode.ALWAYS))
    good = rig.task
    rig.task = round_task(spec, base=bytes([0xAB]) * 32)  # its base checkpoint is in no store
    rig.ctl.start()
    rig.pump_until(lambda e: isinstance(e, StateChanged) and e.status.state is State.ERROR)
    status = rig.ctl.status
    assert (status.state, status.reason) == (State.ERROR, "blob-missing") and "is not available" in status.text

    rig.task = good  # the node fetched what was missing
    rig.seconds(29)
    assert rig.ctl.status.state is State.ERROR  # retried only after retry_after_s
    rig.seconds(1)
    assert rig.ctl.status.state is State.MINING
    rig.pump_until(lambda e: isinstance(e, RoundProgress) and e.step >= 8)

    pid = rig.worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    crash = rig.pump_until(lambda e: isinstance(e, WorkerCrashed))
    assert isinstance(crash, WorkerCrashed) and crash.restarted and crash.resumed
    assert rig.ctl.status.state is State.MINING and rig.ctl.status.restarts == 1
    done = rig.pump_until(lambda e: isinstance(e, RoundFinished))
    assert isinstance(done, RoundFinished) and done.receipt.round == 0
    done.receipt.verify_signature()
    assert rig.states() == [("mining", ""), ("error", "blob-missing"), ("mining", ""), ("waiting", NO_TASK)]


def test_run_loop_samples_as_the_clock_advances_and_stops_when_asked(rig_factory: Callable[..., Rig]) -> None:
    spec = demo.task_spec(local_steps=8, checkpoint_interval=4, batch_size=8)
    rig = rig_factory(spec, Preferences(mode=Mode.ALWAYS))
    rig.task = None  # nothing to mine: the loop only samples, no worker is started
    rig.ctl.start()
    stop = threading.Event()
    thread = threading.Thread(target=rig.ctl.run, args=(stop,), name="test-miner-loop")
    thread.start()
    try:
        rig.power = PowerState(on_battery=True)
        deadline = time.monotonic() + TIMEOUT_S
        while rig.ctl.status.state is not State.PAUSED:  # sampled once the clock has moved a second
            assert time.monotonic() < deadline, rig.states()
            rig.clock.t += 0.25
            time.sleep(0.05)
        assert rig.ctl.status.reason == "on-battery"
    finally:
        stop.set()
        thread.join(TIMEOUT_S)
    assert not thread.is_alive()
    assert rig.states() == [("waiting", NO_TASK), ("paused", "on-battery")] and rig.worker.pid is None


def test_a_worker_that_keeps_dying_is_an_error_until_retried(rig_factory: Callable[..., Rig]) -> None:
    spec = demo.task_spec(local_steps=8, checkpoint_interval=4, batch_size=8)
    rig = rig_factory(spec, Preferences(mode=Mode.ALWAYS), worker=TrainingWorker(max_restarts=0, target=sys.exit))
    rig.ctl.start()
    crash = rig.pump_until(lambda e: isinstance(e, WorkerCrashed))
    assert isinstance(crash, WorkerCrashed) and not crash.restarted
    status = rig.ctl.status
    assert (status.state, status.reason) == (State.ERROR, CRASH_LOOP) and "exited with status 1" in status.text
    assert rig.worker.pid is None  # the dead process was reaped and not replaced
    rig.seconds(29)
    assert rig.ctl.status.state is State.ERROR
    rig.seconds(1)  # retry_after_s: it tries again with a new process, which dies again
    assert rig.ctl.status.state is State.MINING and rig.worker.pid is not None
    again = rig.pump_until(lambda e: isinstance(e, WorkerCrashed))
    assert isinstance(again, WorkerCrashed) and not again.restarted
    assert (rig.ctl.status.state, rig.ctl.status.reason) == (State.ERROR, CRASH_LOOP)
    assert rig.states() == [("mining", ""), ("error", CRASH_LOOP), ("mining", ""), ("error", CRASH_LOOP)]
