"""Exclusive apps: programs during which the miner steps aside (BOINC's exclusive_app), e.g. games.

Names match process names case-insensitively, without a Windows ``.exe``, so one config line works on
every OS. Listing processes costs milliseconds, so the gate checks this less often than idle time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import psutil


def _key(name: str) -> str:
    name = name.strip().lower()
    return name[:-4] if name.endswith(".exe") else name


def match_exclusive(running: Iterable[str], configured: Sequence[str]) -> str | None:
    """The configured name (as the user wrote it) of the first exclusive app found running."""
    wanted = {_key(name): name for name in configured if name.strip()}
    if not wanted:
        return None
    for name in running:
        if (found := wanted.get(_key(name))) is not None:
            return found
    return None


def _process_names() -> Iterable[str]:
    for process in psutil.process_iter(["name"]):
        name = process.info.get("name")
        if name:
            yield name


class ExclusiveApps:
    """Which configured exclusive app runs now; `running` never raises."""

    def __init__(self, process_names: Callable[[], Iterable[str]] = _process_names) -> None:
        self._process_names = process_names

    def running(self, configured: Sequence[str]) -> str | None:
        if not configured:
            return None
        try:
            return match_exclusive(self._process_names(), configured)
        except (psutil.Error, OSError):
            return None
