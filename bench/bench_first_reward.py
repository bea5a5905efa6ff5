"""Time from a volunteer's first start to the first reward they can see, in "always" and "when idle" modes.

Each mode starts from an empty folder the way `make run` does (`potminer run --headless`: the local
devnet, then the daemon), creates the wallet as the wizard would, picks the mode, and waits until the
wallet shows a reward. Phases are timed from the launch: the daemon answering, the first round training,
the first reward.

"When idle" needs an idle time the daemon can read: the bench starts its own X server (Debian's `xvfb`)
that nobody types on, so the idle clock starts with it, and sets `idle_minutes` to 1 (the shortest the
settings allow; the default is 5, which adds 4 minutes by construction). Without Xvfb that mode is
skipped with a line saying so.

    .venv/bin/python bench/bench_first_reward.py [--modes always,idle] [--timeout 900]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.rpc.client import RpcClient  # noqa: E402

PASSWORD = "first-reward bench 1"


def rpc(datadir: Path, method: str, params: dict[str, Any] | None = None) -> Any:
    with RpcClient.for_datadir(datadir, timeout=60) as client:
        return client.call(method, params or {})


def poll(what: str, fn: Any, deadline: float, every_s: float = 0.5) -> Any:
    while time.monotonic() < deadline:
        try:
            value = fn()
        except Exception:  # noqa: BLE001 - not up yet
            value = None
        if value:
            return value
        time.sleep(every_s)
    raise TimeoutError(f"no {what} before the deadline")


def start_xvfb() -> tuple[subprocess.Popen[bytes], str] | None:
    if shutil.which("Xvfb") is None:
        return None
    display = f":{os.getpid() % 400 + 100}"
    proc = subprocess.Popen(["Xvfb", display, "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return (proc, display) if proc.poll() is None else None


def run_mode(mode: str, timeout_s: float, display: str | None) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix=f"pot-first-reward-{mode}-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if display is not None:
        env["DISPLAY"] = display
    else:
        env.pop("DISPLAY", None)
    app_dir = root / "app"
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    launcher = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--headless", "--datadir", str(root), "--validators", "1"],
        cwd=ROOT,
        env=env,
        stdout=open(root / "launcher.out", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    times: dict[str, float] = {}
    try:
        poll("daemon", lambda: rpc(app_dir, "status"), deadline)
        times["daemon answers"] = time.monotonic() - t0
        rpc(app_dir, "wallet.create", {"password": PASSWORD, "words": 12})  # the wizard's first page
        if mode == "idle":
            rpc(app_dir, "config.set", {"section": "mining", "values": {"idle_minutes": 1}})
        rpc(app_dir, "mine.start", {"mode": "always" if mode == "always" else "when-idle"})
        times["wallet made, mode set"] = time.monotonic() - t0
        poll("training round", lambda: rpc(app_dir, "mine.state")["state"] == "mining", deadline, 0.3)
        times["first round training"] = time.monotonic() - t0
        poll("reward", lambda: rpc(app_dir, "wallet.balance")["total"] > 0, deadline, 0.5)
        times["first reward shown"] = time.monotonic() - t0
        return times
    finally:
        try:
            os.killpg(launcher.pid, signal.SIGINT)  # a Ctrl-C, as in a terminal
            launcher.wait(60)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--modes", default="always,idle")
    p.add_argument("--timeout", type=float, default=900.0)
    args = p.parse_args()
    for mode in args.modes.split(","):
        xvfb = None
        display = None
        if mode == "idle":
            xvfb = start_xvfb()
            if xvfb is None:
                print("when idle: skipped (no Xvfb here to give the daemon an idle time: apt install xvfb)")
                continue
            display = xvfb[1]
        try:
            times = run_mode(mode, args.timeout, display)
        finally:
            if xvfb is not None:
                xvfb[0].terminate()
                xvfb[0].wait()
        label = "always" if mode == "always" else "when idle (idle_minutes=1)"
        print(f"{label}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
