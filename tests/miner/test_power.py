"""Power state: laptops on battery or mains, desktops without a battery, and sensors that fail."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import psutil
import pytest

from app.miner.power import PowerState, PsutilPower

Battery = namedtuple("Battery", "percent secsleft power_plugged")


def reading(value: Any) -> PowerState:
    return PsutilPower(lambda: value).read()


@pytest.mark.parametrize(
    ("battery", "expected"),
    [
        (None, PowerState(on_battery=False)),
        (Battery(55.0, 3600, False), PowerState(on_battery=True, charge_percent=55.0)),
        (Battery(80, psutil.POWER_TIME_UNLIMITED, True), PowerState(on_battery=False, charge_percent=80.0)),
        (Battery(80, psutil.POWER_TIME_UNLIMITED, None), PowerState(on_battery=False, charge_percent=80.0)),
        (Battery(140, 10, True), PowerState(on_battery=False, charge_percent=None)),  # nonsense charge
    ],
)
def test_readings(battery: Any, expected: PowerState) -> None:
    assert reading(battery) == expected


def test_undeterminable_plug_state_assumes_mains_and_says_so() -> None:
    state = reading(Battery(40, psutil.POWER_TIME_UNKNOWN, None))
    assert state.on_battery is False
    assert state.charge_percent == 40.0
    assert not state.known and "cannot tell" in state.note


def test_failing_sensor_degrades_instead_of_raising() -> None:
    def broken() -> Any:
        raise OSError("no /sys/class/power_supply")

    state = PsutilPower(broken).read()
    assert state.on_battery is False
    assert "no /sys/class/power_supply" in state.note


def test_real_sensor_on_this_machine_does_not_raise() -> None:
    assert isinstance(PsutilPower().read(), PowerState)
