"""Mains or battery, and the battery's charge, so mining never drains a laptop.

psutil covers Windows, macOS, Linux and the BSDs. A machine without a battery (psutil returns None) is
on mains; a platform or sensor psutil cannot read degrades to "on mains, unknown" with the reason kept,
because refusing to mine on every desktop whose sensor is odd would be worse than the rare miss.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PowerState:
    """What the policy needs to know about power; ``note`` says why a value is a guess."""

    on_battery: bool
    charge_percent: float | None = None
    note: str = ""

    @property
    def known(self) -> bool:
        return not self.note


AC_NO_BATTERY = PowerState(on_battery=False)


def _psutil_battery() -> Any:
    sensors = getattr(psutil, "sensors_battery", None)
    if sensors is None:
        raise NotImplementedError("psutil has no battery sensor on this platform")
    return sensors()


class PsutilPower:
    """Reads the battery through psutil; `read` never raises."""

    name = "psutil"

    def __init__(self, sensor: Callable[[], Any] = _psutil_battery) -> None:
        self._sensor = sensor
        self._warned = False

    def read(self) -> PowerState:
        """The current power state, degrading to "on mains" with a note when it cannot be read."""
        try:
            battery = self._sensor()
        except Exception as exc:  # psutil raises OSError, RuntimeError, NotImplementedError by platform
            return self._unknown(f"battery state unreadable: {exc}")
        if battery is None:
            return AC_NO_BATTERY
        charge = _charge(getattr(battery, "percent", None))
        plugged = getattr(battery, "power_plugged", None)
        if plugged is None:
            # psutil could not tell; "unlimited time left" still means mains.
            if getattr(battery, "secsleft", None) == psutil.POWER_TIME_UNLIMITED:
                return PowerState(on_battery=False, charge_percent=charge)
            return self._unknown("cannot tell mains from battery", charge)
        return PowerState(on_battery=not plugged, charge_percent=charge)

    def _unknown(self, note: str, charge: float | None = None) -> PowerState:
        if not self._warned:
            log.warning("power: %s; assuming mains power", note)
            self._warned = True
        return PowerState(on_battery=False, charge_percent=charge, note=note)


def _charge(value: object) -> float | None:
    if isinstance(value, (int, float)) and 0 <= value <= 100:
        return float(value)
    return None
