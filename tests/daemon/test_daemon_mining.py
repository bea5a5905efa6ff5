"""The daemon's mining service driven by the fake idle source: a real training worker process starts
when the computer has been idle long enough and is paused at the next input, with events on the bus.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

from app.core import crypto
from app.core.blobstore import BlobStore
from app.daemon.events import EventBus
from app.daemon.mining import MiningHooks, MiningService, settings_for
from app.miner import demo
from app.miner.idle.fake import FakeIdleSource
from app.miner.loop import RoundJob
from app.miner.policy import GateSources, Mode, Preferences
from app.miner.power import PowerState
from app.miner.worker import DeviceSettings

KEY = crypto.SigningKey.from_seed(bytes([5]) * 32)


class ManualClock:
    """Monotonic time the test moves by hand (the idle source reads it too); wall time is real."""

    def __init__(self) -> None:
        self.t = 1000.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += seconds

    def now(self) -> datetime:
        return datetime.now()


def _wait(condition, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def test_idle_source_switches_mining_on_and_off(tmp_path: Path) -> None:
    spec = demo.task_spec(local_steps=4096, checkpoint_interval=64, batch_size=16, rounds=1)
    demo.seed_blobs(BlobStore(tmp_path / "blobs"), spec)
    job = RoundJob("pot-devnet", bytes(range(32)), spec, 0, bytes([7]) * 32, spec.initial_checkpoint)
    clock = ManualClock()
    idle = FakeIdleSource(clock.monotonic)
    bus = EventBus()
    states: list[tuple[str, str]] = []
    bus.subscribe(lambda e: states.append((e.state, e.reason)), ["mining_state"])  # type: ignore[attr-defined]
    service = MiningService(
        bus,
        Preferences(mode=Mode.WHEN_IDLE, idle_minutes=1, pause_on_battery=False),
        GateSources(idle=idle, power=lambda: PowerState(on_battery=False)),
        clock,
        MiningHooks(prepare=lambda j: None, publish=lambda r, t: None, is_open=lambda j: True),
        settings_for(tmp_path / "blobs", tmp_path / "resume", DeviceSettings(preference="cpu", cpu_threads=1), 8),
    )
    service.start()
    try:
        service.set_key(KEY)
        service.offer(job)
        _wait(lambda: service.snapshot()["reason"] == "user-active", 30, "waiting for idle time")
        assert service.worker.pid is None  # nothing trains while the user works

        clock.advance(61)  # a minute without input
        _wait(lambda: service.snapshot()["state"] == "mining" and service.snapshot()["step"] > 0, 120, "training")

        idle.touch()  # the user comes back: the next sample suspends and the worker saves the round
        _wait(lambda: service.snapshot()["paused_at"] is not None, 30, "the round to be saved")
        snap = service.snapshot()
        assert (snap["state"], snap["reason"]) == ("waiting", "user-active")
        saved, step = snap["paused_at"], snap["step"]
        time.sleep(1.5)
        assert service.snapshot()["step"] == step  # no training while the user is active

        clock.advance(61)
        _wait(lambda: service.snapshot()["resumed_from"] == saved, 60, "training to continue from the saved step")
        assert ("mining", "") in states and ("waiting", "user-active") in states
        assert states.index(("mining", "")) < len(states) - 1  # it went mining -> waiting -> mining
    finally:
        service.stop()
    assert not service.worker.alive


def test_hot_gpu_pauses_mining_and_it_resumes_below_the_hysteresis(tmp_path: Path) -> None:
    """The gate reads the injected GPU temperature: at the limit mining pauses (`gpu-hot`), and it resumes
    only at or below limit - margin, not as soon as the reading dips under the limit."""
    spec = demo.task_spec(local_steps=4096, checkpoint_interval=64, batch_size=16, rounds=1)
    demo.seed_blobs(BlobStore(tmp_path / "blobs"), spec)
    job = RoundJob("pot-devnet", bytes(range(32)), spec, 0, bytes([7]) * 32, spec.initial_checkpoint)
    clock = ManualClock()
    temperature = [60.0]
    bus = EventBus()
    states: list[tuple[str, str]] = []
    bus.subscribe(lambda e: states.append((e.state, e.reason)), ["mining_state"])  # type: ignore[attr-defined]
    service = MiningService(
        bus,
        Preferences(mode=Mode.ALWAYS, pause_on_battery=False, max_gpu_temp_c=85.0, gpu_temp_resume_margin_c=10.0),
        GateSources(
            idle=FakeIdleSource(clock.monotonic),
            power=lambda: PowerState(on_battery=False),
            gpu_temp_c=lambda: temperature[0],
        ),
        clock,
        MiningHooks(prepare=lambda j: None, publish=lambda r, t: None, is_open=lambda j: True),
        settings_for(tmp_path / "blobs", tmp_path / "resume", DeviceSettings(preference="cpu", cpu_threads=1), 8),
    )
    service.start()
    try:
        service.set_key(KEY)
        service.offer(job)
        _wait(lambda: service.snapshot()["state"] == "mining" and service.snapshot()["step"] > 0, 120, "training")

        temperature[0] = 87.0
        _wait(lambda: service.snapshot()["reason"] == "gpu-hot", 30, "the heat pause")
        snap = service.snapshot()
        assert snap["state"] == "paused" and "87" in snap["text"] and "75" in snap["text"]
        _wait(lambda: service.snapshot()["paused_at"] is not None, 30, "the round to be saved")

        temperature[0] = 80.0  # under the limit, above the resume threshold: still paused
        time.sleep(2.5)
        assert (service.snapshot()["state"], service.snapshot()["reason"]) == ("paused", "gpu-hot")

        temperature[0] = 74.0
        _wait(lambda: service.snapshot()["state"] == "mining", 30, "the resume below the hysteresis threshold")
        assert ("paused", "gpu-hot") in states and states[-1] == ("mining", "")
    finally:
        service.stop()


def test_gpu_temperature_source_is_cached_and_none_without_nvml() -> None:
    from app.daemon.gpu_temp import CachedReading, gpu_temperature_source, nvml_index

    now, calls = [0.0], []
    cached = CachedReading(lambda: calls.append(1) or 70.0 + len(calls), max_age_s=5.0, clock=lambda: now[0])
    assert cached() == 71.0 and cached() == 71.0 and len(calls) == 1  # the gate's 1 s samples reuse it
    now[0] = 5.0
    assert cached() == 72.0 and len(calls) == 2
    assert (nvml_index("cpu"), nvml_index("mps"), nvml_index("auto"), nvml_index("cuda:1")) == (None, None, 0, 1)
    assert gpu_temperature_source("cpu")() is None
    try:
        import pynvml  # noqa: F401
    except ImportError:
        assert gpu_temperature_source("auto")() is None  # no NVML here: "cannot measure", never a pause


def test_subscribed_client_receives_progress_events_while_a_round_trains(tmp_path: Path) -> None:
    """`mining_progress` goes from the controller's RoundProgress through the bus and the RPC server to a
    subscribed client, with rising steps, at most ~2 a second (the window needs no poll)."""
    from app.daemon.rpc_server import RpcServer
    from app.rpc.auth import write_token_file
    from app.rpc.client import RpcClient
    from app.rpc.endpoint import default_endpoint

    spec = demo.task_spec(local_steps=100_000, checkpoint_interval=1000, batch_size=16, rounds=1)
    demo.seed_blobs(BlobStore(tmp_path / "blobs"), spec)
    job = RoundJob("pot-devnet", bytes(range(32)), spec, 0, bytes([7]) * 32, spec.initial_checkpoint)
    clock = ManualClock()
    bus = EventBus()
    token = write_token_file(tmp_path)
    server = RpcServer(default_endpoint(tmp_path), token, bus)
    server.start()
    service = MiningService(
        bus,
        Preferences(mode=Mode.ALWAYS, pause_on_battery=False),
        GateSources(idle=FakeIdleSource(clock.monotonic), power=lambda: PowerState(on_battery=False)),
        clock,
        MiningHooks(prepare=lambda j: None, publish=lambda r, t: None, is_open=lambda j: True),
        settings_for(tmp_path / "blobs", tmp_path / "resume", DeviceSettings(preference="cpu", cpu_threads=1), 2),
    )
    try:
        with RpcClient(server.endpoint, token, timeout=5.0) as client:
            assert client.subscribe(["mining_progress"]) == ["mining_progress"]
            service.start()
            service.set_key(KEY)
            service.offer(job)
            notes = []
            deadline = time.monotonic() + 120
            while len(notes) < 6 and time.monotonic() < deadline:
                note = client.next_notification(timeout=1.0)
                if note is not None:
                    notes.append((time.monotonic(), note))
            assert len(notes) >= 6, f"only {len(notes)} progress events"
            assert {n.kind for _, n in notes} == {"mining_progress"}
            data = [n.data for _, n in notes]
            assert all(d["task_id"] == job.task_id.hex() and d["round"] == 0 for d in data)
            assert all(d["total_steps"] == spec.local_steps and isinstance(d["loss"], float) for d in data)
            steps = [d["step"] for d in data]
            assert steps == sorted(steps) and steps[-1] > steps[0]
            span = notes[-1][0] - notes[0][0]  # reports come every 2 steps; events are throttled
            assert span >= 0.5 * (len(notes) - 1) * 0.8, f"{len(notes)} events in {span:.2f} s"
    finally:
        service.stop()
        server.stop()
