"""The rehearsal's phases and what it prints: block time, each volunteer's time to its first reward, rewards
reaching every volunteer, a validator crash healing, a partition healing, and one block per height everywhere.

Each phase waits on conditions (never a fixed sleep, except the time a crash or a cut is held) and records a
line; a phase that fails records why and the run goes on, so one report shows everything that held.
"""

from __future__ import annotations

import signal
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from app.node.rehearsal import Rehearsal

Out = Callable[[str], None]


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    block_times: list[float] = field(default_factory=list)
    first_reward_s: dict[str, float] = field(default_factory=dict)
    paid: int = 0
    crash_heal_s: float | None = None
    partition_heal_s: float | None = None
    agreed_top: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures


def wait_until(r: Rehearsal, condition: Callable[[], bool], timeout_s: float, poll_s: float = 1.0) -> bool:
    """Poll `condition` (exceptions count as False) until true or `timeout_s`; nodes must stay alive."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except Exception:  # noqa: BLE001 - a host busy or restarting answers next time
            pass
        r.check_alive()
        time.sleep(poll_s)
    return False


def _say(report: Report, out: Out, line: str, failed: bool = False) -> None:
    report.lines.append(line)
    if failed:
        report.failures.append(line)
    out(line)


def volunteers_phase(r: Rehearsal, report: Report, out: Out, timeout_s: float) -> None:
    """Start every volunteer at once, create wallets, mine; time each one's first reward."""
    names = list(r.volunteers)

    def launch(name: str) -> None:
        r.start_volunteer(name)
        r.enrol(name)

    with ThreadPoolExecutor(max(1, len(names))) as pool:
        list(pool.map(launch, names))
    serving = max((time.monotonic() - v.started_at for v in r.volunteers.values()), default=0.0)
    out(f"  {len(names)} volunteers serving and mining ({r.config.node_mode} mode) {serving:.0f} s after their start")

    def all_paid() -> bool:
        for name, v in r.volunteers.items():
            if v.first_reward_s is None and r.paid(name):
                v.first_reward_s = time.monotonic() - v.started_at
        return all(v.first_reward_s is not None for v in r.volunteers.values())

    wait_until(r, all_paid, timeout_s, poll_s=1.0)
    report.first_reward_s = {n: v.first_reward_s for n, v in r.volunteers.items() if v.first_reward_s is not None}
    report.paid = len(report.first_reward_s)
    times = sorted(report.first_reward_s.values())
    if times:
        per = ", ".join(f"{n} {s:.0f}" for n, s in sorted(report.first_reward_s.items()))
        _say(report, out, f"first reward after start: median {statistics.median(times):.1f} s, max {times[-1]:.1f} s")
        out(f"  per volunteer (s): {per}")
    _say(
        report,
        out,
        f"rewards reached {report.paid} of {len(names)} volunteers",
        failed=report.paid < len(names),
    )


def block_time_phase(r: Rehearsal, report: Report, out: Out) -> None:
    top = r.height("v0")
    report.block_times = r.block_times(2, top)
    if not report.block_times:
        _say(report, out, "block time: no blocks", failed=True)
        return
    mean = statistics.fmean(report.block_times)
    median = statistics.median(report.block_times)
    _say(report, out, f"block time: mean {mean:.2f} s, median {median:.2f} s over {len(report.block_times)} blocks")


def crash_phase(r: Rehearsal, report: Report, out: Out, timeout_s: float) -> None:
    """SIGKILL the last validator, keep it down a while, restart it, and wait until it follows the head again."""
    victim = f"v{r.config.validators - 1}"
    others = [n for n in r.net.members if n != victim]
    before = max(r.height(n) for n in others)
    r.net.kill(victim, signal.SIGKILL)
    time.sleep(r.config.crash_down_s)
    during = max(r.height(n) for n in others)
    r.net.start(victim)
    restarted = time.monotonic()

    def caught_up() -> bool:
        target = max(r.height(n) for n in others)
        return target >= during + 2 and r.height(victim) >= target - 1

    healed = wait_until(r, caught_up, timeout_s, poll_s=0.5)
    report.crash_heal_s = time.monotonic() - restarted if healed else None
    line = (
        f"validator crash ({victim}, SIGKILL, {r.config.crash_down_s:.0f} s down; chain {before}->{during} meanwhile): "
        + (f"healed, {victim} back at the head {report.crash_heal_s:.1f} s after restart" if healed else "NOT healed")
    )
    _say(report, out, line, failed=not healed)


def partition_side(r: Rehearsal) -> set[str]:
    """The side cut off: the last validator (with 4 validators the other 3 keep a quorum and go on; with 2 the
    chain stops until the heal) and the second half of the volunteers."""
    side = {f"v{r.config.validators - 1}"} if r.config.validators > 1 else set()
    names = list(r.volunteers)
    return side | set(names[len(names) // 2 :])


def partition_phase(r: Rehearsal, report: Report, out: Out, timeout_s: float) -> None:
    side = partition_side(r)
    rest = [n for n in r.hosts() if n not in side]
    r.partition(side)
    start = {n: r.height(n) for n in r.hosts()}
    time.sleep(r.config.partition_s)
    moved = {n: r.height(n) - start[n] for n in r.hosts()}
    r.partition(set())
    healed_at = time.monotonic()
    out(
        f"  cut {sorted(side)} for {r.config.partition_s:.0f} s: the other side advanced "
        f"{max((moved[n] for n in rest), default=0)} blocks, the cut side {max((moved[n] for n in side), default=0)}"
    )

    target = max(r.height(n) for n in r.hosts()) + 2  # past the head of either side when the cut ended

    def converged() -> bool:
        return all(r.height(n) >= target for n in r.hosts())

    healed = wait_until(r, converged, timeout_s, poll_s=0.5)
    report.partition_heal_s = time.monotonic() - healed_at if healed else None
    line = "partition: " + (
        f"healed, every host at height {target} or above {report.partition_heal_s:.1f} s after the cut ended"
        if healed
        else "NOT healed"
    )
    _say(report, out, line, failed=not healed)


def fork_phase(r: Rehearsal, report: Report, out: Out) -> None:
    """Every host holds the first validator's block at every height it has (a chain database: all of them;
    a light volunteer: its head)."""
    top = r.height("v0")
    ref = r.hashes("v0", top)
    checked, bad = 0, []
    for name in r.hosts():
        if r.store_path(name) is not None:
            mine = r.hashes(name, min(top, r.height(name)))
            if mine != ref[: len(mine)]:
                bad.append(name)
            report.agreed_top = min(report.agreed_top or top, len(mine))
        else:
            head = r.head(name)
            if head is None or head[0] > top or ref[head[0] - 1].hex() != head[1]:
                bad.append(name)
        checked += 1
    line = (
        f"one block per height: {checked} hosts agree on every height up to {report.agreed_top} (head {top})"
        if not bad
        else f"FORK or missing blocks at {bad}"
    )
    _say(report, out, line, failed=bool(bad))


def run(r: Rehearsal, out: Out) -> Report:
    """All phases in order, within the configured timeout."""
    report = Report()
    c = r.config
    delays = " ".join(f"{n}={d * 1000:.0f}" for n, d in r.delays.items())
    out(f"hosts: {c.validators} validators, 1 bootstrap node, {c.volunteers} volunteers; one-way delay ms: {delays}")
    budget = max(60.0, c.timeout_s - (time.monotonic() - r.started))
    volunteers_phase(r, report, out, timeout_s=budget * 0.5)
    block_time_phase(r, report, out)
    crash_phase(r, report, out, timeout_s=budget * 0.2)
    partition_phase(r, report, out, timeout_s=budget * 0.2)
    fork_phase(r, report, out)
    stats = r.relay_stats()
    out(
        f"relays: {stats.get('connections', 0):.0f} connections, {stats.get('bytes', 0) / 1e6:.1f} MB, "
        f"{stats.get('stalls', 0):.0f} emulated losses (retransmission stalls), "
        f"{stats.get('held_s', 0):.0f} connection-seconds held by the cut"
    )
    return report
