"""Guards against the Qt binding bug that made the window crash: PySide6 6.12.0 drops a reference to
True on every Signal.emit() and to the slot's result on every QTimer.singleShot, so a window that runs
for a while frees True or None and aborts (bool_dealloc / none_dealloc). requirements.lock pins 6.11.3."""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, QTimer, Signal


class _Emitter(QObject):
    fired = Signal(object)


def test_emit_and_single_shot_keep_reference_counts(qapp) -> None:  # type: ignore[no-untyped-def]
    emitter = _Emitter()
    emitter.fired.connect(lambda _v: None)
    # The bug drops one reference per call (-1000 here); other threads and garbage collection of earlier
    # tests' objects move these counts by tens either way, so collect first and allow -400.
    gc.collect()
    before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(1000):
        emitter.fired.emit(1)
        QTimer.singleShot(0, lambda: None)
    qapp.processEvents()
    qapp.processEvents()
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert after[0] - before[0] > -400, "Signal.emit() drops references to True: use another PySide6 version"
    assert after[1] - before[1] > -400, "QTimer.singleShot drops references to None: use another PySide6 version"
