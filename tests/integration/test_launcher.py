"""`potminer run` (what `make run` starts): the local devnet persists, the daemon joins it, and
stopping the launcher stops every process it started.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from app.node.devnet import DevnetConfig
from app.node.local_devnet import LocalDevnet, LocalDevnetError
from app.node.status import read_status

ROOT = Path(__file__).resolve().parents[2]


def test_a_local_devnet_is_created_once_then_reopened_with_the_same_keys_and_genesis(tmp_path: Path) -> None:
    first = LocalDevnet(DevnetConfig(validators=2, miners=1, datadir=tmp_path))
    first.setup()
    assert first.created
    second = LocalDevnet(DevnetConfig(validators=2, miners=1, datadir=tmp_path))
    second.setup()
    assert not second.created
    assert second.genesis == first.genesis
    assert second.requester.public_key == first.requester.public_key
    assert {n: (m.key.public_key, m.port, m.peer_id, m.role) for n, m in second.members.items()} == {
        n: (m.key.public_key, m.port, m.peer_id, m.role) for n, m in first.members.items()
    }


def test_a_damaged_manifest_is_a_clear_error(tmp_path: Path) -> None:
    LocalDevnet(DevnetConfig(validators=1, miners=0, datadir=tmp_path)).setup()
    (tmp_path / "devnet.json").write_text("{not json")
    try:
        LocalDevnet(DevnetConfig(validators=1, miners=0, datadir=tmp_path)).setup()
    except LocalDevnetError as exc:
        assert "move that folder aside" in str(exc)
    else:
        raise AssertionError("a damaged manifest was accepted")


def test_a_saved_port_taken_by_another_program_moves_and_the_manifest_says_so(tmp_path: Path) -> None:
    first = LocalDevnet(DevnetConfig(validators=2, miners=0, datadir=tmp_path))
    first.setup()
    taken = first.members["v1"].port
    said: list[str] = []
    with socket.socket() as squatter:  # another program listens on v1's port now
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        second = LocalDevnet(DevnetConfig(validators=2, miners=0, datadir=tmp_path), say=said.append)
        second.setup()
    assert second.members["v1"].port != taken
    assert second.members["v0"].port == first.members["v0"].port  # a free port stays put
    assert any(f"port {taken} of v1 is taken" in line for line in said)
    third = LocalDevnet(DevnetConfig(validators=2, miners=0, datadir=tmp_path))
    third.setup()
    assert third.members["v1"].port == second.members["v1"].port  # the move was saved


def _launch(root: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--headless", "--datadir", str(root), "--validators", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # its own group, as in a terminal


def _read_until(proc: subprocess.Popen[str], pattern: str, timeout_s: float) -> str:
    """Lines of the launcher's output until one matches `pattern` (fails with the output so far)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    raise AssertionError(f"no line matching {pattern!r}; output:\n{''.join(seen)}")


def _stop(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    proc.wait(120)
    gone, alive = psutil.wait_procs(children, timeout=30)
    return alive


def _ctrl_c(proc: subprocess.Popen[str]) -> tuple[str, list[psutil.Process]]:
    """A terminal's Ctrl-C: SIGINT to the whole process group; returns the rest of the output."""
    children = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    _gone, alive = psutil.wait_procs(children, timeout=30)
    return rest, alive


def test_run_starts_devnet_and_daemon_persists_the_chain_and_stops_everything(tmp_path: Path) -> None:
    root = tmp_path / "pot"
    proc = _launch(root)
    try:
        out = _read_until(proc, r"^height [1-9]", 240)
        assert "creating the local devnet" in out and "posting the default training task" in out
        assert "running headless" in out
        # the CLI finds the daemon from the folder given to `run` (it lives in ROOT/app): issue 16 item 7
        status = subprocess.run(
            [sys.executable, "-m", "app", "status", "--datadir", str(root)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
    finally:
        rest, alive = _ctrl_c(proc)
    assert alive == [], f"processes left running: {[p.pid for p in alive]}"
    assert "stopping" in rest and "error" not in rest, f"a Ctrl-C is no error: {rest}"
    height_before = read_status(root / "network" / "v0")["height"]
    assert height_before >= 1
    config_text = (root / "app" / "config.toml").read_text()
    assert str(root / "network" / "genesis.json") in config_text  # the daemon was pointed at the devnet

    proc = _launch(root)
    try:
        out = _read_until(proc, r"^height \d+", 240)
        assert "reopening the local devnet" in out and "posting" not in out
        resumed = int(re.findall(r"^height (\d+)", out, re.M)[-1])
        assert resumed >= height_before  # the chain went on from its store, not from a new genesis
    finally:
        alive = _stop(proc)
    assert alive == []


def test_a_fresh_daemon_brings_up_the_local_devnet_and_stops_it_with_itself(tmp_path: Path) -> None:
    """A fresh install's daemon (devnet chain, no genesis given) runs the app's own network."""
    from tests.daemon.daemon_proc import rpc, start_daemon, stop_daemon, wait_for

    datadir = tmp_path / "d"
    (datadir).mkdir()
    (datadir / "config.toml").write_text('[network]\nlisten = ["/ip4/127.0.0.1/tcp/0"]\nmdns = false\n')
    proc = start_daemon(datadir)
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len([c for c in children if "node" in c.cmdline()]) == 5  # 4 validators + the background miner
        assert wait_for(lambda: rpc(datadir, "status")["node"]["height"] >= 2, 180, "blocks on the local devnet")
    finally:
        assert stop_daemon(proc) == 0
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == []
    assert (datadir / "local-devnet" / "devnet.json").is_file()


def test_missing_qt_x_libraries_are_named_and_the_run_goes_headless(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 16 item 10: without libxcb-cursor0 & co Qt aborted with "no platform plugin"."""
    from app.cli import launcher

    if not sys.platform.startswith("linux"):
        assert launcher.missing_x_libraries() == []
        return
    present = {"xcb-cursor": "/usr/lib/libxcb-cursor.so.0"}
    assert launcher.missing_x_libraries(present.get) == ["libxcb-icccm4", "libxcb-keysyms1"]
    assert launcher.missing_x_libraries(lambda _name: "found") == []
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(launcher, "missing_x_libraries", lambda: ["libxcb-cursor0"])
    said: list[str] = []
    assert launcher.window_possible(said.append) is False
    assert "sudo apt install libxcb-cursor0" in said[0] and "headless" in said[0]
