"""The GPU temperature the mining gate reads (its "pause when the GPU is too hot" rule).

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

    def __init__(self, read: Callable[[], float | None], max_age_s: float = CACHE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
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
