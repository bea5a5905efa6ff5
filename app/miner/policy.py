"""Whether to mine right now, and if not, the reason the window shows (BOINC check_suspend_processing).

`should_mine` is a pure function of preferences, observations and a small memory carried between calls
(the hysteresis). `MiningGate` samples the injected sources every second, applies it and reports changes.
Checks run from the most deliberate reason to the most transient, so the window shows the one that
matters: paused by you (or snoozed for a while), battery, schedule, disk cap, exclusive app, heat (GPU
or CPU), and last the user's activity.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from app.miner.idle import IdleSource
from app.miner.power import PowerState
from app.miner.schedule import WeeklySchedule

log = logging.getLogger(__name__)
T = TypeVar("T")


class Mode(enum.Enum):
    ALWAYS = "always"  # mine whenever nothing else forbids it; idle time is ignored
    WHEN_IDLE = "when-idle"  # mine only after N minutes without input; stop on the first input
    NEVER = "never"  # paused by the user until they choose otherwise


class Reason(enum.Enum):
    """Why mining is suspended; the value is the stable code the RPC sends."""

    USER_PAUSED = "user-paused"
    SNOOZED = "snoozed"
    ON_BATTERY = "on-battery"
    BATTERY_LOW = "battery-low"
    OUTSIDE_SCHEDULE = "outside-schedule"
    EXCLUSIVE_APP = "exclusive-app"
    GPU_HOT = "gpu-hot"
    CPU_HOT = "cpu-hot"
    DISK_FULL = "disk-full"
    IDLE_UNAVAILABLE = "idle-unavailable"
    USER_ACTIVE = "user-active"


@dataclass(frozen=True)
class Preferences:
    """The volunteer's settings; each limit has an off value (None, False, empty)."""

    mode: Mode = Mode.WHEN_IDLE
    idle_minutes: float = 5.0
    pause_on_battery: bool = True
    min_battery_percent: float = 0.0  # on mains, wait until the battery has this much charge
    schedule: WeeklySchedule = field(default_factory=WeeklySchedule)
    max_gpu_temp_c: float | None = 85.0
    gpu_temp_resume_margin_c: float = 10.0  # resume only once this much below the limit
    exclusive_apps: tuple[str, ...] = ()
    max_cpu_temp_c: float | None = None  # the same limit as the GPU's in the daemon; None: no CPU heat pause
    disk_cap_bytes: int | None = None  # the data folder's cap; None: no cap


@dataclass(frozen=True)
class Observations:
    """One sample of the machine; None means "cannot be measured here"."""

    now: datetime  # local wall time, for the schedule
    user_idle_s: float | None
    power: PowerState = PowerState(on_battery=False)
    gpu_temp_c: float | None = None
    exclusive_app: str | None = None
    user_paused: bool = False
    snoozed_until: datetime | None = None  # "pause for 1 hour": local wall time it ends
    cpu_temp_c: float | None = None
    disk_used_bytes: int | None = None  # the data folder's size


@dataclass(frozen=True)
class Memory:
    """What the previous decision leaves for the next one: the latched heat pause."""

    too_hot: bool = False
    cpu_too_hot: bool = False


@dataclass(frozen=True)
class Run:
    memory: Memory = Memory()

    running = True

    @property
    def text(self) -> str:
        return "Mining"


@dataclass(frozen=True)
class Suspend:
    """Not mining, with the reason and the numbers behind it (for translation and the RPC)."""

    reason: Reason
    memory: Memory = Memory()
    idle_s: float | None = None
    idle_needed_s: float | None = None
    resumes_at: datetime | None = None
    now: datetime | None = None
    temp_c: float | None = None
    resume_temp_c: float | None = None
    app: str | None = None
    charge_percent: float | None = None
    min_charge_percent: float | None = None
    used_bytes: int | None = None
    cap_bytes: int | None = None

    running = False

    @property
    def text(self) -> str:
        """The line the window and `potminer status` show."""
        r = self.reason
        if r is Reason.USER_PAUSED:
            return "Paused by you"
        if r is Reason.SNOOZED:
            return f"Paused by you for a while (resumes {_when(self.resumes_at, self.now)})"
        if r is Reason.DISK_FULL:
            return (
                f"Paused: the data folder holds {_gb(self.used_bytes)} of its {_gb(self.cap_bytes)} cap "
                "(data older than the challenge window is removed; raise the cap in Settings)"
            )
        if r is Reason.CPU_HOT:
            return f"Paused: CPU at {self.temp_c:.0f} °C (resumes at {self.resume_temp_c:.0f} °C)"
        if r is Reason.ON_BATTERY:
            return "Paused: on battery"
        if r is Reason.BATTERY_LOW:
            return f"Paused: charging battery ({self.charge_percent:.0f}% of {self.min_charge_percent:.0f}%)"
        if r is Reason.OUTSIDE_SCHEDULE:
            return f"Paused: outside schedule (resumes {_when(self.resumes_at, self.now)})"
        if r is Reason.EXCLUSIVE_APP:
            return f"Paused: {self.app} is running"
        if r is Reason.GPU_HOT:
            return f"Paused: GPU at {self.temp_c:.0f} °C (resumes at {self.resume_temp_c:.0f} °C)"
        if r is Reason.IDLE_UNAVAILABLE:
            return "Waiting: idle detection not available on this system; choose Mine always"
        return f"Waiting: computer in use (idle {_duration(self.idle_s)} of {_duration(self.idle_needed_s)})"


Decision = Run | Suspend


@dataclass(frozen=True)
class PolicyInputs:
    prefs: Preferences
    obs: Observations
    memory: Memory = Memory()


def should_mine(inputs: PolicyInputs) -> Decision:
    """Run, or Suspend with the most important reason; pass the result's `memory` into the next call."""
    prefs, obs = inputs.prefs, inputs.obs
    memory = Memory(
        too_hot=_too_hot(prefs.max_gpu_temp_c, prefs, obs.gpu_temp_c, inputs.memory.too_hot),
        cpu_too_hot=_too_hot(prefs.max_cpu_temp_c, prefs, obs.cpu_temp_c, inputs.memory.cpu_too_hot),
    )
    if prefs.mode is Mode.NEVER or obs.user_paused:
        return Suspend(Reason.USER_PAUSED, memory)
    if obs.snoozed_until is not None and obs.now < obs.snoozed_until:
        return Suspend(Reason.SNOOZED, memory, resumes_at=obs.snoozed_until, now=obs.now)
    if prefs.pause_on_battery and obs.power.on_battery:
        return Suspend(Reason.ON_BATTERY, memory)
    charge = obs.power.charge_percent
    if charge is not None and charge < prefs.min_battery_percent:
        return Suspend(Reason.BATTERY_LOW, memory, charge_percent=charge, min_charge_percent=prefs.min_battery_percent)
    if not prefs.schedule.allows(obs.now):
        return Suspend(Reason.OUTSIDE_SCHEDULE, memory, resumes_at=prefs.schedule.next_change(obs.now), now=obs.now)
    if (
        prefs.disk_cap_bytes is not None
        and obs.disk_used_bytes is not None
        and obs.disk_used_bytes >= prefs.disk_cap_bytes
    ):
        return Suspend(Reason.DISK_FULL, memory, used_bytes=obs.disk_used_bytes, cap_bytes=prefs.disk_cap_bytes)
    if obs.exclusive_app is not None:
        return Suspend(Reason.EXCLUSIVE_APP, memory, app=obs.exclusive_app)
    if memory.too_hot:
        assert prefs.max_gpu_temp_c is not None  # too_hot implies a limit
        return Suspend(
            Reason.GPU_HOT,
            memory,
            temp_c=obs.gpu_temp_c,
            resume_temp_c=prefs.max_gpu_temp_c - prefs.gpu_temp_resume_margin_c,
        )
    if memory.cpu_too_hot:
        assert prefs.max_cpu_temp_c is not None
        return Suspend(
            Reason.CPU_HOT,
            memory,
            temp_c=obs.cpu_temp_c,
            resume_temp_c=prefs.max_cpu_temp_c - prefs.gpu_temp_resume_margin_c,
        )
    if prefs.mode is Mode.WHEN_IDLE:
        needed = prefs.idle_minutes * 60
        if obs.user_idle_s is None:
            return Suspend(Reason.IDLE_UNAVAILABLE, memory)
        if obs.user_idle_s < needed:
            # Idle time restarts at every input, so after activity the full N minutes are needed again.
            return Suspend(Reason.USER_ACTIVE, memory, idle_s=obs.user_idle_s, idle_needed_s=needed)
    return Run(memory)


def _too_hot(limit: float | None, prefs: Preferences, temp: float | None, was_hot: bool) -> bool:
    """Pause at the limit, resume only below limit - margin; no sensor means no heat pause."""
    if limit is None or temp is None:
        return False
    if was_hot:
        return temp > limit - prefs.gpu_temp_resume_margin_c
    return temp >= limit


def _gb(size: int | None) -> str:
    size = size or 0
    if size >= 10**9:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.0f} MB" if size >= 10**6 else f"{size / 1e3:.0f} kB"


def _duration(seconds: float | None) -> str:
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _when(at: datetime | None, now: datetime | None) -> str:
    if at is None:
        return "never"
    if now is not None and at.date() == now.date():
        return at.strftime("%H:%M")
    if now is not None and at - now < timedelta(days=7):
        return at.strftime("%a %H:%M")
    return at.strftime("%Y-%m-%d %H:%M")


class Clock(Protocol):
    """Time for the gate: monotonic seconds for intervals, local wall time for the schedule."""

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...


class SystemClock:
    """The real clocks, for the daemon."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now()


@dataclass
class GateSources:
    """Where the gate reads the machine; every callable may fail, the gate turns failures into None."""

    idle: IdleSource
    power: Callable[[], PowerState]
    gpu_temp_c: Callable[[], float | None] = lambda: None
    exclusive_app: Callable[[Sequence[str]], str | None] = lambda names: None
    cpu_temp_c: Callable[[], float | None] = lambda: None
    disk_used_bytes: Callable[[], int | None] = lambda: None


class MiningGate:
    """Samples the sources, applies `should_mine`, and calls `on_change` when mining should start or stop
    or the suspend reason changes. The mining controller drives it with `run` (or `sample` in tests)."""

    SAMPLE_INTERVAL_S = 1.0
    APPS_INTERVAL_S = 5.0  # listing processes is costlier than reading idle time

    def __init__(
        self,
        prefs: Preferences,
        sources: GateSources,
        clock: Clock,
        on_change: Callable[[Decision], None],
    ) -> None:
        self._prefs = prefs
        self._sources = sources
        self._clock = clock
        self._on_change = on_change
        self._user_paused = False
        self._snoozed_until: datetime | None = None
        self._decision: Decision | None = None
        self._app: str | None = None
        self._apps_checked_at: float | None = None

    @property
    def decision(self) -> Decision | None:
        """The latest decision (its `text` updates every sample, e.g. the idle countdown)."""
        return self._decision

    def set_preferences(self, prefs: Preferences) -> Decision:
        self._prefs = prefs
        self._apps_checked_at = None
        return self.sample()

    def pause(self) -> Decision:
        """The user's pause button: holds until `resume`, whatever the machine does."""
        self._user_paused = True
        return self.sample()

    def resume(self) -> Decision:
        """Ends a pause and a snooze alike."""
        self._user_paused = False
        self._snoozed_until = None
        return self.sample()

    def snooze(self, seconds: float) -> Decision:
        """ "Pause for 1 hour": mining resumes by itself when the time is up (or at `resume`)."""
        if not 0 < seconds <= 7 * 24 * 3600:
            raise ValueError("a snooze lasts between 1 second and 7 days")
        self._snoozed_until = self._clock.now() + timedelta(seconds=seconds)
        return self.sample()

    def sample(self) -> Decision:
        """Read every source once, decide, and report a change of state or reason."""
        obs = Observations(
            now=self._clock.now(),
            user_idle_s=_safely(self._sources.idle.idle_seconds, None, "idle"),
            power=_safely(self._sources.power, PowerState(on_battery=False, note="unreadable"), "power"),
            gpu_temp_c=_safely(self._sources.gpu_temp_c, None, "gpu temperature"),
            exclusive_app=self._exclusive_app(),
            user_paused=self._user_paused,
            snoozed_until=self._snoozed_until,
            cpu_temp_c=_safely(self._sources.cpu_temp_c, None, "cpu temperature"),
            disk_used_bytes=_safely(self._sources.disk_used_bytes, None, "disk use"),
        )
        previous = self._decision
        memory = previous.memory if previous is not None else Memory()
        decision = should_mine(PolicyInputs(self._prefs, obs, memory))
        self._decision = decision
        if previous is None or _state(previous) != _state(decision):
            log.info("mining gate: %s", decision.text)
            self._on_change(decision)
        return decision

    async def run(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Sample every second until cancelled; ``sleep`` is the event loop's (e.g. trio.sleep)."""
        while True:
            self.sample()
            await sleep(self.SAMPLE_INTERVAL_S)

    def _exclusive_app(self) -> str | None:
        if not self._prefs.exclusive_apps:
            return None
        now = self._clock.monotonic()
        if self._apps_checked_at is None or now - self._apps_checked_at >= self.APPS_INTERVAL_S:
            self._apps_checked_at = now
            self._app = _safely(lambda: self._sources.exclusive_app(self._prefs.exclusive_apps), None, "apps")
        return self._app


def _state(decision: Decision) -> Reason | None:
    return decision.reason if isinstance(decision, Suspend) else None


def _safely(read: Callable[[], T], fallback: T, what: str) -> T:
    try:
        return read()
    except Exception as exc:  # a source must never stop the gate; its failure reads as "unknown"
        log.warning("mining gate: %s source failed: %s", what, exc)
        return fallback
