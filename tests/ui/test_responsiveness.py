"""No event-loop frame over 100 ms (of GUI-thread work) while the daemon trains: the daemon runs in its own process doing real
CPU work, the window shows every page with live events (progress polls, blocks, logs, rewards)."""

from __future__ import annotations

from pathlib import Path

from app import config as cfg
from app.ui.frame_monitor import FrameMonitor
from app.ui.main import GuiApp
from tests.ui import daemon_process

MAX_FRAME_MS = 100.0


def test_window_stays_responsive_while_the_daemon_trains(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    proc = daemon_process.start(data, "--create-wallet", "correct horse battery", "--mine", "--history-days", "30")
    try:
        gui = GuiApp(data, cfg.Config(), launch=False)
        qtbot.addWidget(gui.window)
        gui.start()
        qtbot.waitUntil(gui.client.is_ready, timeout=5000)
        qtbot.waitUntil(lambda: gui.model.mining.state == "mining" and gui.model.history.rowCount() > 0,
                        timeout=5000)
        qtbot.wait(300)  # let the first full refresh land before measuring
        monitor = FrameMonitor()
        monitor.start()
        for page in ("Dashboard", "Wallet", "Earnings", "Network", "Settings", "Logs", "Dashboard"):
            gui.window.show_page(page)
            qtbot.wait(700)
        monitor.stop()
        assert len(monitor.gaps) > 200, "the timer ran"
        assert gui.model.logs.rowCount() > 10 and gui.model.mining.round >= 1 and gui.model.mining.throughput > 0
        print(f"frames: {len(monitor.gaps)}, worst {monitor.worst_ms:.1f} ms wall / {monitor.worst_cpu_ms:.1f} ms "
              f"GUI-thread CPU, p99 {monitor.percentile_ms(0.99):.1f} ms wall")
        # CPU time of the GUI thread: what our code spent in one frame. Wall time also counts waiting for a
        # CPU on a shared machine (2 cores, the daemon training, other jobs), which no window code can avoid.
        assert monitor.worst_cpu_ms < MAX_FRAME_MS, f"one frame did {monitor.worst_cpu_ms:.0f} ms of work"
        gui.client.stop()
    finally:
        daemon_process.stop(proc)
