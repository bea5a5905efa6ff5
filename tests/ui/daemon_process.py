"""Run the stand-in daemon as its own process (as the real daemon runs), for timing and responsiveness."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    """Start it and wait for 'ready' (the lockfile names its endpoint by then)."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.ui.standin_daemon", "--datadir", str(data_dir), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"the stand-in daemon did not start (said {line!r})")
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
