"""Choosing and capping the compute device, and reading what it is doing.

`select_device` picks CUDA, then MPS, then CPU (or what the user asked for) and applies the caps the
settings allow: a GPU memory fraction, a CPU thread count, and deterministic kernels where the device
offers them. `DutyCycle` caps utilisation by sleeping after each step for the share of time the user
does not give to mining. `device_stats` reports utilisation, temperature and power through NVML when
`pynvml` and an NVIDIA driver are present, and `None` for each when they are not.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from typing import Any

import torch

DEVICE_CLASSES = ("cpu", "cuda", "mps")


class DeviceUnavailable(RuntimeError):
    """The requested device is not present on this machine."""


def available_devices() -> list[str]:
    found = ["cpu"]
    if torch.cuda.is_available():
        found.insert(0, "cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.insert(0 if "cuda" not in found else 1, "mps")
    return found


def select_device(
    preference: str = "auto",
    *,
    memory_fraction: float | None = None,
    cpu_threads: int | None = None,
    deterministic: bool = True,
) -> torch.device:
    """The device to train on, with the caps applied; `DeviceUnavailable` if `preference` is absent."""
    found = available_devices()
    if preference == "auto":
        name = found[0]
    elif preference in DEVICE_CLASSES:
        if preference not in found:
            raise DeviceUnavailable(f"{preference} is not available here (found {', '.join(found)})")
        name = preference
    else:
        raise ValueError(f"unknown device {preference!r}; choose auto, cpu, cuda or mps")
    if cpu_threads is not None:
        if cpu_threads < 1:
            raise ValueError("cpu_threads must be at least 1")
        torch.set_num_threads(cpu_threads)
    device = torch.device(name)
    if memory_fraction is not None:
        if not 0 < memory_fraction <= 1:
            raise ValueError("memory_fraction must be in (0, 1]")
        if name == "cuda":
            torch.cuda.set_per_process_memory_fraction(memory_fraction, device)
        elif name == "mps":
            torch.mps.set_per_process_memory_fraction(memory_fraction)
    if deterministic:
        configure_determinism(name)
    return device


def configure_determinism(name: str) -> None:
    """Deterministic kernels and no TF32 where the device offers the switch (re-execution must match)."""
    if name == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def device_class(device: torch.device) -> str:
    """The tolerance class a receipt declares: "cpu", "cuda" or "mps"."""
    if device.type not in DEVICE_CLASSES:
        raise ValueError(f"unsupported device type {device.type}")
    return device.type


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class DutyCycle:
    """Keeps the busy share of wall time near `fraction` by sleeping after each unit of work."""

    def __init__(
        self, fraction: float, device: torch.device | None = None, clock=time.perf_counter, sleep=time.sleep
    ) -> None:  # type: ignore[no-untyped-def]
        if not 0 < fraction <= 1:
            raise ValueError("duty cycle must be in (0, 1]")
        self.fraction, self.device = fraction, device
        self._clock, self._sleep = clock, sleep
        self._mark = clock()

    def __call__(self) -> None:
        """Call after each step: sleeps busy * (1 - f) / f, so busy / (busy + sleep) = f."""
        if self.fraction >= 1:
            return
        if self.device is not None:
            synchronize(self.device)
        now = self._clock()
        busy = now - self._mark
        self._sleep(busy * (1 - self.fraction) / self.fraction)
        self._mark = self._clock()


@dataclass(frozen=True)
class DeviceStats:
    device: str
    name: str
    utilization_pct: float | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    temperature_c: float | None
    power_w: float | None


@functools.lru_cache(maxsize=1)
def _this_process(pid: int) -> Any:
    import psutil

    return psutil.Process(pid)


def _own_cpu_load() -> float:
    """The training process's load on the threads it trains with, in percent, since the previous call
    (the first reads 0.0). The machine-wide figure also counted the volunteer's other programs, so a
    50 % cap read 67 to 99.8 % (issue 16); this is what `utilization_cap` limits."""
    share = _this_process(os.getpid()).cpu_percent(interval=None)
    return max(0.0, min(100.0, share / max(1, torch.get_num_threads())))


def device_stats(device: torch.device) -> DeviceStats:
    """What the device reports; fields the platform cannot read are None (no NVML, no GPU)."""
    if device.type == "cpu":
        import psutil

        mem = psutil.virtual_memory()
        return DeviceStats("cpu", _cpu_name(), _own_cpu_load(), mem.total - mem.available, mem.total, None, None)
    if device.type != "cuda":
        return DeviceStats(device.type, device.type, None, None, None, None, None)
    index = device.index if device.index is not None else torch.cuda.current_device()
    name = torch.cuda.get_device_name(index)
    used = torch.cuda.memory_allocated(index)
    total = torch.cuda.get_device_properties(index).total_memory
    util = temp = power = None
    try:
        import pynvml  # optional: absent on machines without an NVIDIA driver

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        util = float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        temp = float(pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))
        power = pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
    except Exception:  # ImportError, NVMLError_*: telemetry is best effort, training goes on
        pass
    return DeviceStats("cuda", name, util, used, total, temp, power)


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "cpu"
