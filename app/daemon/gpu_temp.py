"""The GPU and CPU temperatures the mining gate reads (its "pause when too hot" rule).

The CPU's comes from psutil's sensors where the OS exposes them (Linux, FreeBSD); elsewhere it reads
None and the window says the limit cannot be enforced on the CPU.

NVML is asked directly, like `app.miner.devices.device_stats` does in the training worker, but without
torch: the daemon must not open a CUDA context (GPU memory) just to read a sensor. The configured device
(`[mining] device`: auto, cpu, cuda, cuda:N, mps) names the GPU; cpu, mps, a machine without NVML or
without an NVIDIA GPU read None, which the gate takes as "cannot be measured" (never a pause).

The gate samples every second; a reading is cached for `CACHE_S` so a slow driver call never holds it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

CACHE_S = 5.0


def nvml_index(preference: str) -> int | None:
    """The NVML index of the configured device, or None where it is not an NVIDIA GPU."""
    if preference in ("auto", "cuda"):
        return 0  # auto picks cuda first when there is one; without one NVML finds nothing (None)
    if preference.startswith("cuda:"):
        try:
            return int(preference.split(":", 1)[1])
        except ValueError:
            return None
    return None  # cpu, mps


class NvmlTemperature:
    """`read()` -> °C of GPU `index` through pynvml, or None (no pynvml, no driver, no such GPU)."""

    def __init__(self, index: int | None) -> None:
        self.index = index
        self._handle = None
        self._broken = index is None

    def read(self) -> float | None:
        if self._broken:
            return None
        try:
            import pynvml  # optional: absent on machines without an NVIDIA driver

            if self._handle is None:
                pynvml.nvmlInit()
                self._handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
            return float(pynvml.nvmlDeviceGetTemperature(self._handle, pynvml.NVML_TEMPERATURE_GPU))
        except Exception as exc:  # ImportError, NVMLError_*: no sensor here; stop asking
            log.info("GPU temperature not readable (%s): the heat limit does not apply", exc)
            self._broken = True
            return None


class CachedReading:
    """A source read at most once per `max_age_s` (monotonic clock); callers get the last value between."""

    def __init__(
        self, read: Callable[[], float | None], max_age_s: float = CACHE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._read, self._max_age_s, self._clock = read, max_age_s, clock
        self._lock = threading.Lock()
        self._at: float | None = None
        self._value: float | None = None

    def __call__(self) -> float | None:
        with self._lock:
            now = self._clock()
            if self._at is None or now - self._at >= self._max_age_s:
                self._at = now  # a failing read also waits its turn
                self._value = self._read()
            return self._value


def gpu_temperature_source(preference: str, max_age_s: float = CACHE_S) -> Callable[[], float | None]:
    """The gate's `gpu_temp_c` for the configured device: NVML, cached."""
    return CachedReading(NvmlTemperature(nvml_index(preference)).read, max_age_s)


# CPU sensors by the names Linux drivers give them (psutil.sensors_temperatures), most telling first.
CPU_SENSORS = (
    ("coretemp", "package"),
    ("k10temp", "tctl"),
    ("k10temp", ""),
    ("zenpower", ""),
    ("cpu_thermal", ""),
    ("coretemp", ""),
    ("acpitz", ""),
)


def pick_cpu_temperature(sensors: dict[str, list]) -> float | None:
    """The CPU's temperature in `psutil.sensors_temperatures()`'s answer, or None when it has none."""
    for chip, label in CPU_SENSORS:
        readings = [r for r in sensors.get(chip, []) if label in (getattr(r, "label", "") or "").lower()]
        values = [float(r.current) for r in readings if isinstance(getattr(r, "current", None), (int, float))]
        if values:
            return max(values)
    return None


def read_cpu_temperature() -> float | None:
    """psutil's CPU sensor (Linux, FreeBSD); None where the OS exposes none (Windows, macOS, containers)."""
    try:
        import psutil

        sensors = getattr(psutil, "sensors_temperatures", None)
        return pick_cpu_temperature(sensors() or {}) if sensors is not None else None
    except Exception as exc:  # a driver quirk: no reading, no heat pause
        log.info("CPU temperature not readable (%s)", exc)
        return None


def cpu_temperature_source(max_age_s: float = CACHE_S) -> Callable[[], float | None]:
    """The gate's `cpu_temp_c`: psutil's sensor, cached."""
    return CachedReading(read_cpu_temperature, max_age_s)
