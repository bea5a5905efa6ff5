"""Time for the window to open with a running daemon, against a bare QApplication start, same run.

Each figure is wall time from starting a fresh interpreter to the moment it reports, median of N runs:
  bare:    `QApplication([])` created and one event loop pass done
  shown:   PoT Miner's main window shown (first paint done) - the figure the 1.5 s target is about
  ready:   the window connected to the daemon (hello answered) and its first status shown
The daemon is a real `potminer daemon` on a one-validator devnet (tests/ui/devnet_daemon.py), started once
before timing, with a wallet and mining a task, so the window competes for the CPU with training.
Usage: QT_QPA_PLATFORM=offscreen python bench/bench_window_open.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.5

CHILD_BARE = """
from PySide6.QtWidgets import QApplication
app = QApplication([]); app.processEvents(); print("bare", flush=True)
"""

CHILD_WINDOW = """
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app import config as cfg
from app.ui import theme
from app.ui.main import GuiApp
theme.apply(app, "light")
gui = GuiApp(Path(sys.argv[1]), cfg.Config(), launch=False)
gui.start()
app.processEvents()
print("shown", flush=True)
def ready(_s):
    print("ready", flush=True); QTimer.singleShot(0, app.quit)
gui.model.statusChanged.connect(ready)
QTimer.singleShot(10000, app.quit)
app.exec()
"""


def timed(code: str, *args: str) -> dict[str, float]:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"), PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
    marks: dict[str, float] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        marks[line.strip()] = time.perf_counter() - start
    proc.wait()
    return marks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.ui.devnet_daemon import DevnetDaemon

    with tempfile.TemporaryDirectory() as tmp, DevnetDaemon(Path(tmp) / "run") as dd:
        dd.wait_reward()  # a wallet with history, and a round training while the window opens
        dd.wait_training()
        data = dd.data_dir
        timed(CHILD_BARE)  # warm the file cache once, for both
        bare = [timed(CHILD_BARE)["bare"] for _ in range(args.runs)]
        runs = [timed(CHILD_WINDOW, str(data)) for _ in range(args.runs)]
        mining = dd.rpc("mine.state")["state"]
    shown = [r["shown"] for r in runs]
    ready = [r["ready"] for r in runs if "ready" in r]
    med = statistics.median
    print(f"runs: {args.runs}, cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}, daemon: {mining}")
    print(f"bare QApplication start : {med(bare):.3f} s (min {min(bare):.3f})")
    print(
        f"window shown            : {med(shown):.3f} s (min {min(shown):.3f}), {med(shown) - med(bare):+.3f} s over bare"
    )
    if ready:
        print(f"window connected, status: {med(ready):.3f} s (min {min(ready):.3f})")
    ok = med(shown) <= TARGET_S and len(ready) == args.runs
    print(f"target {TARGET_S} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
