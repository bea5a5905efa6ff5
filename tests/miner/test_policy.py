"""The mining policy as a table of BOINC-style cases, and the gate driven by a fake clock and idle source."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import trio
import trio.testing

from app.miner import schedule
from app.miner.idle.fake import FakeIdleSource
from app.miner.policy import (
    Decision,
    GateSources,
    Memory,
    MiningGate,
    Mode,
    Observations,
    PolicyInputs,
    Preferences,
    Reason,
    Run,
    Suspend,
    should_mine,
)
from app.miner.power import PowerState

NOON = datetime(2024, 1, 1, 12, 0)  # a Monday
IDLE = Preferences(mode=Mode.WHEN_IDLE, idle_minutes=5)
ALWAYS = Preferences(mode=Mode.ALWAYS)
NIGHTS = replace(ALWAYS, schedule=schedule.parse("mon-fri 18:00-08:00; sat,sun all-day"))
BATTERY = PowerState(on_battery=True, charge_percent=60)
COOL, WAS_HOT = Memory(too_hot=False), Memory(too_hot=True)


def obs(**kw: object) -> Observations:
    base: dict[str, object] = {"now": NOON, "user_idle_s": 3600.0}
    return Observations(**(base | kw))  # type: ignore[arg-type]


CASES = [
    # (name, preferences, observations, memory, expected reason or None for Run, window text)
    ("idle long enough", IDLE, obs(user_idle_s=300), COOL, None, "Mining"),
    (
        "user active",
        IDLE,
        obs(user_idle_s=12),
        COOL,
        Reason.USER_ACTIVE,
        "Waiting: computer in use (idle 0:12 of 5:00)",
    ),
    ("input just now", IDLE, obs(user_idle_s=0.4), COOL, Reason.USER_ACTIVE, None),
    (
        "long idle wait",
        replace(IDLE, idle_minutes=90),
        obs(user_idle_s=3725),
        COOL,
        Reason.USER_ACTIVE,
        "Waiting: computer in use (idle 1:02:05 of 1:30:00)",
    ),
    (
        "no idle detection",
        IDLE,
        obs(user_idle_s=None),
        COOL,
        Reason.IDLE_UNAVAILABLE,
        "Waiting: idle detection not available on this system; choose Mine always",
    ),
    ("always ignores activity", ALWAYS, obs(user_idle_s=0), COOL, None, None),
    ("always without idle source", ALWAYS, obs(user_idle_s=None), COOL, None, None),
    ("never", replace(ALWAYS, mode=Mode.NEVER), obs(), COOL, Reason.USER_PAUSED, "Paused by you"),
    ("pause button", ALWAYS, obs(user_paused=True), COOL, Reason.USER_PAUSED, None),
    ("on battery", ALWAYS, obs(power=BATTERY), COOL, Reason.ON_BATTERY, "Paused: on battery"),
    ("battery allowed", replace(ALWAYS, pause_on_battery=False), obs(power=BATTERY), COOL, None, None),
    (
        "charging first",
        replace(ALWAYS, min_battery_percent=80),
        obs(power=PowerState(False, 42.0)),
        COOL,
        Reason.BATTERY_LOW,
        "Paused: charging battery (42% of 80%)",
    ),
    ("charged", replace(ALWAYS, min_battery_percent=80), obs(power=PowerState(False, 80.0)), COOL, None, None),
    ("desktop, no battery", replace(ALWAYS, min_battery_percent=80), obs(power=PowerState(False)), COOL, None, None),
    ("outside schedule", NIGHTS, obs(), COOL, Reason.OUTSIDE_SCHEDULE, "Paused: outside schedule (resumes 18:00)"),
    (
        "outside schedule, other day",
        replace(ALWAYS, schedule=schedule.parse("sat,sun all-day")),
        obs(now=datetime(2024, 1, 3, 12)),
        COOL,
        Reason.OUTSIDE_SCHEDULE,
        "Paused: outside schedule (resumes Sat 00:00)",
    ),
    ("inside schedule", NIGHTS, obs(now=datetime(2024, 1, 1, 23)), COOL, None, None),
    (
        "exclusive app",
        replace(ALWAYS, exclusive_apps=("Blender",)),
        obs(exclusive_app="Blender"),
        COOL,
        Reason.EXCLUSIVE_APP,
        "Paused: Blender is running",
    ),
    ("gpu at limit", ALWAYS, obs(gpu_temp_c=87.0), COOL, Reason.GPU_HOT, "Paused: GPU at 87 °C (resumes at 75 °C)"),
    ("gpu below limit", ALWAYS, obs(gpu_temp_c=84.9), COOL, None, None),
    ("gpu cooling, not enough", ALWAYS, obs(gpu_temp_c=80.0), WAS_HOT, Reason.GPU_HOT, None),
    ("gpu cooled", ALWAYS, obs(gpu_temp_c=75.0), WAS_HOT, None, None),
    ("no temperature sensor", ALWAYS, obs(gpu_temp_c=None), WAS_HOT, None, None),
    ("no temperature limit", replace(ALWAYS, max_gpu_temp_c=None), obs(gpu_temp_c=99.0), COOL, None, None),
    # Priority: the most deliberate reason wins.
    ("paused beats battery", replace(ALWAYS, mode=Mode.NEVER), obs(power=BATTERY), COOL, Reason.USER_PAUSED, None),
    ("battery beats schedule", NIGHTS, obs(power=BATTERY), COOL, Reason.ON_BATTERY, None),
    ("schedule beats heat", NIGHTS, obs(gpu_temp_c=95.0), COOL, Reason.OUTSIDE_SCHEDULE, None),
    ("heat beats activity", IDLE, obs(gpu_temp_c=95.0, user_idle_s=1), COOL, Reason.GPU_HOT, None),
]


@pytest.mark.parametrize(("name", "prefs", "observed", "memory", "reason", "text"), CASES, ids=[c[0] for c in CASES])
def test_policy_table(
    name: str, prefs: Preferences, observed: Observations, memory: Memory, reason: Reason | None, text: str | None
) -> None:
    decision = should_mine(PolicyInputs(prefs, observed, memory))
    if reason is None:
        assert isinstance(decision, Run)
    else:
        assert isinstance(decision, Suspend) and decision.reason is reason
    if text is not None:
        assert decision.text == text


def test_heat_latch_is_carried_even_while_another_reason_shows() -> None:
    hot = should_mine(PolicyInputs(NIGHTS, obs(gpu_temp_c=90.0)))
    assert isinstance(hot, Suspend) and hot.reason is Reason.OUTSIDE_SCHEDULE and hot.memory.too_hot
    evening = obs(now=datetime(2024, 1, 1, 19), gpu_temp_c=80.0)
    still = should_mine(PolicyInputs(NIGHTS, evening, hot.memory))
    assert isinstance(still, Suspend) and still.reason is Reason.GPU_HOT


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.start = datetime(2024, 1, 1, 17, 50)  # Monday, ten minutes before the evening window

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Harness:
    def __init__(self, prefs: Preferences) -> None:
        self.clock = FakeClock()
        self.idle = FakeIdleSource(self.clock.monotonic)
        self.power = PowerState(on_battery=False)
        self.temp: float | None = 60.0
        self.apps: list[str] = []
        self.app_checks = 0
        self.changes: list[Decision] = []
        sources = GateSources(self.idle, lambda: self.power, lambda: self.temp, self._apps)
        self.gate = MiningGate(prefs, sources, self.clock, self.changes.append)

    def _apps(self, configured: object) -> str | None:
        self.app_checks += 1
        return self.apps[0] if self.apps else None

    def tick(self, seconds: int = 1) -> Decision:
        """Advance the clock a second at a time, sampling like the controller's loop."""
        decision = self.gate.sample()
        for _ in range(seconds):
            self.clock.advance(1)
            decision = self.gate.sample()
        return decision

    @property
    def states(self) -> list[str]:
        return [d.reason.value if isinstance(d, Suspend) else "run" for d in self.changes]


def test_idle_for_n_minutes_starts_and_input_stops_within_one_sample() -> None:
    h = Harness(replace(IDLE, idle_minutes=2))
    h.tick(119)
    assert h.states == ["user-active"]
    assert h.gate.decision is not None and h.gate.decision.text == "Waiting: computer in use (idle 1:59 of 2:00)"
    h.tick(1)
    assert h.states == ["user-active", "run"]
    h.idle.touch()
    h.clock.advance(0.3)
    assert h.gate.sample().running is False  # the very next sample after input
    assert h.states == ["user-active", "run", "user-active"]
    h.tick(60)
    h.idle.touch()  # activity again: the full two minutes start over
    h.tick(119)
    assert h.states[-1] == "user-active"
    h.tick(1)
    assert h.states[-1] == "run"


def test_battery_pauses_and_mains_resumes() -> None:
    h = Harness(ALWAYS)
    h.tick()
    h.power = PowerState(on_battery=True, charge_percent=90)
    h.tick()
    h.power = PowerState(on_battery=False, charge_percent=90)
    h.tick()
    assert h.states == ["run", "on-battery", "run"]


def test_schedule_boundaries_pause_and_resume() -> None:
    h = Harness(replace(ALWAYS, schedule=schedule.parse("daily 18:00-18:30")))
    h.tick(599)
    assert h.states == ["outside-schedule"]
    assert h.gate.decision is not None and h.gate.decision.text == "Paused: outside schedule (resumes 18:00)"
    h.tick(1)  # 18:00
    h.tick(30 * 60)  # 18:30
    assert h.states == ["outside-schedule", "run", "outside-schedule"]


def test_gpu_heat_has_hysteresis() -> None:
    h = Harness(ALWAYS)
    for temp in (84, 85, 84, 80, 76, 75, 84):
        h.temp = temp
        h.tick()
    assert h.states == ["run", "gpu-hot", "run"]


def test_pause_button_holds_until_resume() -> None:
    h = Harness(ALWAYS)
    h.tick()
    h.gate.pause()
    h.tick(30)
    h.gate.resume()
    assert h.states == ["run", "user-paused", "run"]


def test_snooze_pauses_for_its_time_then_resumes_by_itself() -> None:
    h = Harness(ALWAYS)
    h.tick()
    h.gate.snooze(3600)
    assert h.gate.decision is not None and h.gate.decision.text == "Paused by you for a while (resumes 18:50)"
    h.tick(3599)
    assert h.states == ["run", "snoozed"]
    h.tick(1)
    assert h.states == ["run", "snoozed", "run"]
    h.gate.snooze(600)
    h.gate.resume()  # resume ends a snooze early
    assert h.states[-2:] == ["snoozed", "run"]
    with pytest.raises(ValueError):
        h.gate.snooze(0)


def test_disk_cap_pauses_with_the_sizes_and_resumes_under_it() -> None:
    capped = replace(ALWAYS, disk_cap_bytes=5 * 10**9)
    full = should_mine(PolicyInputs(capped, obs(disk_used_bytes=5_200_000_000)))
    assert isinstance(full, Suspend) and full.reason is Reason.DISK_FULL
    assert full.text.startswith("Paused: the data folder holds 5.2 GB of its 5.0 GB cap")
    assert should_mine(PolicyInputs(capped, obs(disk_used_bytes=4_900_000_000))).running
    assert should_mine(PolicyInputs(capped, obs(disk_used_bytes=None))).running, "size unknown: no pause"
    assert should_mine(PolicyInputs(ALWAYS, obs(disk_used_bytes=10**12))).running, "no cap set"


def test_cpu_heat_has_hysteresis_and_no_sensor_means_no_pause() -> None:
    prefs = replace(ALWAYS, max_cpu_temp_c=83.0)
    memory = Memory()
    states = []
    for temp in (80.0, 83.0, 80.0, 73.0, None):
        decision = should_mine(PolicyInputs(prefs, obs(cpu_temp_c=temp), memory))
        memory = decision.memory
        states.append(decision.reason.value if isinstance(decision, Suspend) else "run")
    assert states == ["run", "cpu-hot", "cpu-hot", "run", "run"]
    hot = should_mine(PolicyInputs(prefs, obs(cpu_temp_c=90.0)))
    assert isinstance(hot, Suspend) and hot.text == "Paused: CPU at 90 °C (resumes at 73 °C)"


def test_exclusive_apps_are_listed_every_few_seconds_not_every_sample() -> None:
    h = Harness(replace(ALWAYS, exclusive_apps=("steam",)))
    h.tick(9)
    assert h.app_checks == 2  # t=0 and t=5
    h.apps = ["steam"]
    h.tick(1)  # t=10: listed again
    assert h.states == ["run", "exclusive-app"]


def test_failing_sources_read_as_unknown_not_as_a_crash() -> None:
    h = Harness(IDLE)

    def broken() -> float:
        raise RuntimeError("NVML gone")

    h.gate._sources.gpu_temp_c = broken  # a source breaking mid-run
    h.idle.available = False
    assert h.tick().text.startswith("Waiting: idle detection not available")


def test_run_loop_samples_every_second_on_a_virtual_clock() -> None:
    h = Harness(replace(IDLE, idle_minutes=1))

    async def main() -> None:
        async def sleep(seconds: float) -> None:
            h.clock.advance(seconds)
            await trio.sleep(seconds)

        with trio.move_on_after(61.5):
            await h.gate.run(sleep)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert h.states == ["user-active", "run"]
