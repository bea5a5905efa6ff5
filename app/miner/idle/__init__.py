"""How long the user has left the computer alone, behind one interface for every OS.

Each platform module offers probes: functions that return a working `IdleSource` or None. The factory
tries them in order and keeps the first that answers, so a Wayland desktop, an X11 desktop and a
headless server each get the best source they have, and a machine with none gets `NoIdleSource`, which
the policy turns into a clear reason instead of guessing (BOINC's X11-only detection is the lesson).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class IdleSource(Protocol):
    """Seconds since the user's last keyboard or pointer input; None when it cannot be known now."""

    name: str

    def idle_seconds(self) -> float | None: ...


Probe = Callable[[], "IdleSource | None"]


class NoIdleSource:
    """What a machine without any idle detection gets; `tried` names what was looked for."""

    name = "none"

    def __init__(self, tried: Sequence[str] = ()) -> None:
        self.tried = tuple(tried)

    def idle_seconds(self) -> float | None:
        return None

    def __repr__(self) -> str:
        return f"NoIdleSource(tried={', '.join(self.tried) or 'nothing'})"


def first_available(probes: Sequence[tuple[str, Probe]]) -> IdleSource:
    """The first probe's source that returns a reading now, else `NoIdleSource`; never raises."""
    for label, probe in probes:
        try:
            source = probe()
            reading = source.idle_seconds() if source is not None else None
        except Exception as exc:  # a probe touches ctypes and D-Bus; any failure means "not here"
            log.debug("idle: %s unavailable: %s", label, exc)
            continue
        if source is not None and reading is not None:
            log.info("idle: using %s", source.name)
            return source
        log.debug("idle: %s unavailable", label)
    log.info("idle: no idle detection available (tried %s)", ", ".join(label for label, _ in probes))
    return NoIdleSource([label for label, _ in probes])


def platform_probes(platform: str = sys.platform) -> list[tuple[str, Probe]]:
    """The probes for ``platform`` in order of preference; imports only that platform's module."""
    if platform == "win32":
        from app.miner.idle import windows

        return windows.PROBES
    if platform == "darwin":
        from app.miner.idle import macos

        return macos.PROBES
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        from app.miner.idle import linux

        return linux.PROBES
    return []


def detect_idle_source(platform: str = sys.platform) -> IdleSource:
    """The best idle source this machine offers (the daemon calls this once at start)."""
    return first_available(platform_probes(platform))
