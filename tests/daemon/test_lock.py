"""The data folder's lockfile, with real daemon processes: refusal while one runs, recovery after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.daemon.lock import DaemonAlreadyRunning, DaemonLock
from app.rpc.client import DaemonNotRunning, RpcClient
from app.rpc.discovery import LockInfo, lock_path, read_lock_info

ROOT = Path(__file__).resolve().parents[2]

# A minimal daemon: lock, token, RPC, publish the endpoint, then serve until killed.
DAEMON = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from app.daemon.lock import DaemonAlreadyRunning, DaemonLock
    from app.daemon.rpc_server import RpcServer
    from app.rpc.auth import write_token_file
    from app.rpc.endpoint import default_endpoint

    data_dir = Path(sys.argv[1])
    lock = DaemonLock(data_dir)
    try:
        lock.acquire()
    except DaemonAlreadyRunning as exc:
        print("REFUSED", exc, flush=True)
        sys.exit(3)
    server = RpcServer(default_endpoint(data_dir), write_token_file(data_dir))
    lock.publish_endpoint(server.start())
    print("READY", flush=True)
    threading.Event().wait()
    """
)


def _start(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DAEMON, str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(proc: subprocess.Popen[str]) -> str:
    """Wait for READY; returns what the daemon printed before it (its warnings)."""
    assert proc.stdout is not None
    before = ""
    for line in proc.stdout:
        if line.startswith("READY"):
            return before
        before += line
    raise AssertionError(f"daemon exited with {proc.wait()} before READY: {before}")


def test_second_daemon_is_refused_while_first_runs(tmp_path: Path) -> None:
    first = _start(tmp_path)
    try:
        _wait_ready(first)
        second = _start(tmp_path)
        out, _ = second.communicate(timeout=30)
        assert second.returncode == 3
        assert out.startswith("REFUSED") and f"pid {first.pid}" in out and "already running" in out
        with RpcClient.for_datadir(tmp_path, timeout=5) as client:  # the first one is unharmed
            assert client.ping()
    finally:
        first.kill()
        first.wait()


def test_stale_lock_of_killed_daemon_is_recovered(tmp_path: Path) -> None:
    first = _start(tmp_path)
    _wait_ready(first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    stale = read_lock_info(tmp_path)
    assert stale is not None and stale.pid == first.pid  # kill -9 left the lockfile behind
    with pytest.raises(DaemonNotRunning):
        RpcClient.for_datadir(tmp_path, timeout=2).connect()
    second = _start(tmp_path)
    try:
        assert f"removing the stale lockfile of daemon pid {first.pid}" in _wait_ready(second)
        info = read_lock_info(tmp_path)
        assert info is not None and info.pid == second.pid
        with RpcClient.for_datadir(tmp_path, timeout=5) as client:
            assert client.ping()
    finally:
        second.kill()
        second.wait()


def test_recycled_pid_is_not_mistaken_for_a_live_daemon(tmp_path: Path) -> None:
    # Our own pid is alive, but it was not started at the recorded time: a previous daemon's pid reused.
    me = DaemonLock(tmp_path).info
    lock_path(tmp_path).write_bytes(LockInfo(pid=me.pid, started=me.started - 1000, version="0.0.1").to_bytes())
    os.chmod(lock_path(tmp_path), 0o600)
    with DaemonLock(tmp_path) as lock:
        assert read_lock_info(tmp_path) == lock.info
    assert not lock_path(tmp_path).exists()


def test_live_holder_that_does_not_answer_is_not_displaced(tmp_path: Path) -> None:
    holder = DaemonLock(tmp_path)
    holder.acquire()  # this process holds it, with no RPC behind it yet
    with pytest.raises(DaemonAlreadyRunning, match="does not answer") as err:
        DaemonLock(tmp_path).acquire()
    assert err.value.info.pid == os.getpid()
    holder.release()
    assert not lock_path(tmp_path).exists()


def test_damaged_lockfile_is_replaced(tmp_path: Path) -> None:
    path = lock_path(tmp_path)
    path.write_bytes(b"{half a lock")
    os.chmod(path, 0o600)
    with DaemonLock(tmp_path) as lock:
        assert read_lock_info(tmp_path) == lock.info


def test_release_leaves_a_lock_that_is_no_longer_ours(tmp_path: Path) -> None:
    lock = DaemonLock(tmp_path)
    lock.acquire()
    lock.publish_endpoint("tcp:127.0.0.1:5000")
    other = LockInfo(pid=lock.info.pid, started=lock.info.started + 5, version="x", endpoint=None)
    path = lock_path(tmp_path)
    path.write_bytes(other.to_bytes())
    lock.release()
    assert path.exists()


def test_publish_before_acquire_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="before acquire"):
        DaemonLock(tmp_path).publish_endpoint("tcp:127.0.0.1:1")


def test_client_reports_missing_and_starting_daemon(tmp_path: Path) -> None:
    with pytest.raises(DaemonNotRunning, match="no lockfile"):
        RpcClient.for_datadir(tmp_path)
    with DaemonLock(tmp_path):
        with pytest.raises(DaemonNotRunning, match="still starting"):
            RpcClient.for_datadir(tmp_path)
