"""Start a real `potminer daemon` process for tests, run CLI commands against it, and stop it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.launcher import wait_until_serving
from app.rpc.client import RpcClient

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120.0


def write_config(datadir: Path, text: str) -> None:
    datadir.mkdir(parents=True, exist_ok=True)
    (datadir / "config.toml").write_text(text)


def start_daemon(datadir: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start the daemon and wait until it answers a ping (raises with its log if it dies first)."""
    datadir.mkdir(parents=True, exist_ok=True)
    log = open(datadir / "daemon.out", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "daemon", "--datadir", str(datadir), *extra],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    wait_until_serving(proc, datadir, START_TIMEOUT_S, poll_s=0.2)
    return proc


def cli(
    datadir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `potminer ARGS --datadir D` as a real process."""
    argv = [sys.executable, "-m", "app", *args, "--datadir", str(datadir)]
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=120, input=input_text, env={**os.environ, **(env or {})}
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr}{done.stdout}")
    return done


def cli_json(datadir: Path, *args: str, **kw: Any) -> Any:
    return json.loads(cli(datadir, *args, "--json", **kw).stdout)


def rpc(datadir: Path, method: str, params: dict[str, Any] | None = None) -> Any:
    with RpcClient.for_datadir(datadir, timeout=60) as client:
        return client.call(method, params or {})


def wait_for(
    condition: Any, timeout_s: float, what: str, poll_s: float = 0.5, sleep: Callable[[float], Any] = time.sleep
) -> Any:
    """Poll `condition` until it is truthy (its value) or `timeout_s` passes; `sleep` between polls (a test
    with a window passes one that keeps the Qt event loop turning)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        sleep(poll_s)


def stop_daemon(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
