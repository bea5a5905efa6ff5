"""Measures the event loop's responsiveness: the longest gap between ticks of a fast timer.

A 10 ms precise timer fires as long as the loop is free; a gap much longer than 10 ms is a frame the user
felt as a freeze. Each gap is kept twice: in wall-clock time (what the user sees) and in CPU time of the
GUI thread (the work our code did in that frame). On a loaded machine the first also counts time the
process waited for a CPU; the second does not, so it is the one a test can hold to a bound.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer


class FrameMonitor(QObject):
    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.gaps: list[float] = []  # wall-clock seconds between consecutive ticks
        self.cpu_gaps: list[float] = []  # GUI-thread CPU seconds between consecutive ticks
        self._last = self._last_cpu = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps.clear()
        self.cpu_gaps.clear()
        self._last, self._last_cpu = time.perf_counter(), time.thread_time()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.gaps.append(now - self._last)
        self.cpu_gaps.append(cpu - self._last_cpu)
        self._last, self._last_cpu = now, cpu

    @property
    def worst_ms(self) -> float:
        return max(self.gaps, default=0.0) * 1000

    @property
    def worst_cpu_ms(self) -> float:
        return max(self.cpu_gaps, default=0.0) * 1000

    def percentile_ms(self, q: float) -> float:
        if not self.gaps:
            return 0.0
        ordered = sorted(self.gaps)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
