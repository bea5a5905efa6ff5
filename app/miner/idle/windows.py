"""Windows idle time from GetLastInputInfo (user32), read through ctypes.

GetLastInputInfo reports the tick of the last input in the caller's session, so the daemon must run in
the user's session (start at login does), not as a service in session 0. Ticks are 32-bit milliseconds
that wrap every 49.7 days; the difference is taken modulo 2**32.
"""

from __future__ import annotations

import ctypes
import sys

TICK_MODULUS = 2**32


def elapsed_ms(now_tick: int, last_input_tick: int) -> int:
    """Milliseconds from the last input to now, correct across the 32-bit tick wrap."""
    return (now_tick - last_input_tick) % TICK_MODULUS


class _LastInputInfo(ctypes.Structure):
    _fields_ = [("cbSize", ctypes.c_uint), ("dwTime", ctypes.c_uint32)]


class LastInputSource:
    """GetLastInputInfo; None when the call fails (e.g. no interactive session)."""

    name = "windows GetLastInputInfo"

    def __init__(self) -> None:
        windll = ctypes.windll  # type: ignore[attr-defined]  # exists only on Windows
        self._user32 = windll.user32
        self._kernel32 = windll.kernel32
        self._kernel32.GetTickCount.restype = ctypes.c_uint32
        self._info = _LastInputInfo()
        self._info.cbSize = ctypes.sizeof(_LastInputInfo)

    def idle_seconds(self) -> float | None:
        if not self._user32.GetLastInputInfo(ctypes.byref(self._info)):
            return None
        return elapsed_ms(self._kernel32.GetTickCount(), self._info.dwTime) / 1000.0


def probe_last_input() -> LastInputSource | None:
    if sys.platform != "win32":
        return None
    return LastInputSource()


PROBES = [("windows GetLastInputInfo", probe_last_input)]
