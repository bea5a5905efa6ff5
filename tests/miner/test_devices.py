"""Device choice, caps and telemetry on a machine without a GPU (they must degrade cleanly)."""

from __future__ import annotations

import pytest
import torch

from app.miner.devices import DeviceUnavailable, DutyCycle, available_devices, device_class, device_stats, select_device


def test_auto_picks_an_available_device_and_cpu_is_always_there() -> None:
    assert "cpu" in available_devices()
    assert select_device("auto").type == available_devices()[0]
    assert select_device("cpu", cpu_threads=1).type == "cpu"
    assert torch.get_num_threads() == 1


def test_absent_or_unknown_devices_and_bad_caps_are_refused() -> None:
    if "cuda" not in available_devices():
        with pytest.raises(DeviceUnavailable):
            select_device("cuda")
    with pytest.raises(ValueError):
        select_device("tpu")
    with pytest.raises(ValueError):
        select_device("cpu", cpu_threads=0)
    with pytest.raises(ValueError):
        select_device("cpu", memory_fraction=1.5)


def test_duty_cycle_sleeps_for_the_share_not_given_to_mining() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    cap = DutyCycle(0.25, clock=lambda: now[0], sleep=sleep)
    for busy in (0.1, 0.2):
        now[0] += busy
        cap()
    assert slept == pytest.approx([0.3, 0.6])  # busy / (busy + sleep) = 0.25
    full = DutyCycle(1.0, clock=lambda: now[0], sleep=sleep)
    full()
    assert len(slept) == 2
    with pytest.raises(ValueError):
        DutyCycle(0)


def test_cpu_stats_report_what_is_known_and_none_for_the_rest() -> None:
    stats = device_stats(torch.device("cpu"))
    assert stats.device == "cpu" and stats.name
    assert stats.temperature_c is None and stats.power_w is None  # no NVML for a CPU
    assert stats.memory_total_bytes and 0 <= (stats.utilization_pct or 0) <= 100
    assert device_class(torch.device("cpu")) == "cpu"


def test_cpu_load_is_the_trainers_own_not_the_machines() -> None:
    """Issue 16: the machine-wide figure counted every other program (a 50 % cap read up to 99.8 %)."""
    import time

    cpu = torch.device("cpu")
    device_stats(cpu)
    time.sleep(0.5)  # this process idle: whatever else the machine does
    idle = device_stats(cpu).utilization_pct
    end = time.process_time() + 0.3
    while time.process_time() < end:  # 0.3 s of this process's own CPU time
        pass
    busy = device_stats(cpu).utilization_pct
    assert idle is not None and busy is not None
    assert idle < 10 and busy > idle + 5, (idle, busy)
