"""A real `potminer daemon --offline` process driven through the RPC and the CLI.

Covers the daemon-level refusals (no token, another user's token file, malformed JSON, unknown
method, oversized body: each a clear error, and the daemon keeps serving), the wallet's password
handling over the CLI, config checks, and an orderly `potminer stop`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.rpc import protocol as p
from app.rpc.auth import InsecureFileError, read_token_file, token_path
from app.rpc.client import RpcClient
from app.rpc.discovery import read_lock_info

from .daemon_proc import cli, cli_json, rpc, start_daemon, stop_daemon, write_config

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    datadir = tmp_path_factory.mktemp("d")
    write_config(datadir, '[mining]\nmode = "always"\npause_on_battery = false\n')
    os.chmod(datadir, 0o755)  # as a pre-existing folder may be: the daemon makes it private
    # start at login writes an XDG autostart entry: under the test's folder, never the user's ~/.config
    proc = start_daemon(datadir, "--offline", env={"XDG_CONFIG_HOME": str(datadir / "xdg")})
    yield datadir
    stop_daemon(proc)


def _raw(datadir: Path) -> socket.socket:
    endpoint = read_lock_info(datadir).endpoint  # type: ignore[union-attr]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(endpoint.removeprefix("unix:"))
    return sock


def _answer(sock: socket.socket) -> dict:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return json.loads(data.splitlines()[0])


def test_refusals_are_clear_and_the_daemon_keeps_serving(daemon: Path) -> None:
    # no token: the first request is not hello
    with _raw(daemon) as s:
        s.sendall(p.encode_request(p.Request("status", {}, 1)))
        err = _answer(s)["error"]
        assert err["code"] == p.ErrorCode.UNAUTHORIZED and "hello" in err["message"]
    # a wrong token
    with pytest.raises(p.RpcError) as wrong:
        RpcClient(read_lock_info(daemon).endpoint, "0" * 64, timeout=10).connect()  # type: ignore[arg-type]
    assert wrong.value.code == p.ErrorCode.UNAUTHORIZED and "token" in wrong.value.message
    token = read_token_file(token_path(daemon))
    with RpcClient(read_lock_info(daemon).endpoint, token, timeout=10) as client:  # type: ignore[arg-type]
        client.send_raw(b'{"jsonrpc":"2.0","id":5,"method":\n')
        with pytest.raises(p.RpcError) as bad:
            client.call("ping")
        assert bad.value.code == p.ErrorCode.PARSE_ERROR and "malformed JSON" in bad.value.message
        with pytest.raises(p.RpcError) as unknown:
            client.call("wallet.steal_everything")
        assert unknown.value.code == p.ErrorCode.METHOD_NOT_FOUND and "version" in unknown.value.message
        with pytest.raises(p.RpcError) as params:
            client.call("logs", {"limit": "lots"})
        assert params.value.code == p.ErrorCode.INVALID_PARAMS and "limit" in params.value.message
        assert client.ping()  # the same connection still serves
    with RpcClient.for_datadir(daemon, timeout=10) as client:
        client.send_raw(
            b'{"jsonrpc":"2.0","id":9,"method":"ping","params":{"x":"' + b"a" * (p.MAX_REQUEST_BYTES + 10) + b'"}}\n'
        )
        with pytest.raises(p.RpcError) as big:
            client.call("ping")
        assert big.value.code == p.ErrorCode.MESSAGE_TOO_LARGE
    assert rpc(daemon, "status")["daemon"]["pid"] == read_lock_info(daemon).pid  # still serving


def test_a_token_file_others_can_read_is_refused_by_clients(daemon: Path, tmp_path: Path) -> None:
    """Another user's (or a planted) token file: the client refuses it and says why; the daemon serves on."""
    foreign = tmp_path / "rpc.token"
    shutil.copy(token_path(daemon), foreign)
    os.chmod(foreign, 0o644)
    with pytest.raises(InsecureFileError, match="chmod 600"):
        read_token_file(foreign)
    if os.getuid() == 0:  # root may own files of another uid: check the owner test too
        os.chmod(foreign, 0o600)
        os.chown(foreign, 4242, 4242)
        with pytest.raises(InsecureFileError, match="belongs to user id 4242"):
            read_token_file(foreign)
    assert rpc(daemon, "ping") == "pong"


def test_wallet_over_the_cli_never_echoes_the_password(daemon: Path, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    created = cli_json(daemon, "wallet", "create", "--words", "12", "--password-file", str(pw))
    assert len(created["phrase"].split()) == 12
    assert created["addresses"]["spending"].startswith("potd1")
    status = rpc(daemon, "status")
    assert status["wallet"]["locked"] is False
    assert status["mining"]["reason"] == "no-task"  # unlocked, mode always, offline: nothing to train
    cli(daemon, "wallet", "lock")
    assert rpc(daemon, "mine.state")["reason"] == "no-task", "locked: mining goes on with the kept reward key"
    cli(daemon, "wallet", "forget-hot-key")
    assert rpc(daemon, "mine.state")["reason"] == "wallet-locked"
    wrong = cli(daemon, "wallet", "unlock", check=False, env={"POTMINER_PASSWORD": "not the password"})
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr
    for short in ("abc", "x", "12345"):  # shorter than the redactor's old minimum: was INTERNAL_ERROR
        with pytest.raises(p.RpcError) as short_wrong:
            rpc(daemon, "wallet.unlock", {"password": short})
        assert short_wrong.value.code == 1003 and short_wrong.value.message == "wrong password"
    unlocked = cli(daemon, "wallet", "unlock", env={"POTMINER_PASSWORD": PASSWORD})
    assert PASSWORD not in unlocked.stdout + unlocked.stderr
    phrase = cli_json(daemon, "wallet", "export", "phrase", "--password-file", str(pw))["phrase"]
    assert phrase == created["phrase"]
    again = cli(daemon, "wallet", "create", "--password-file", str(pw), check=False)
    assert again.returncode == 1 and "already has a wallet" in again.stderr
    logs = rpc(daemon, "logs", {"limit": 2000})["entries"]
    assert logs and not any(PASSWORD in e["message"] or phrase in e["message"] for e in logs)


def test_config_set_checks_types_and_saves(daemon: Path) -> None:
    with pytest.raises(p.RpcError) as bad:
        rpc(daemon, "config.set", {"section": "mining", "values": {"idle_minutes": "soon"}})
    assert bad.value.code == 1009 and "idle_minutes" in bad.value.message
    for values in ({"mode": None}, {"gpu_memory_fraction": [1]}, {"schedule": {"a": 1}}):
        with pytest.raises(p.RpcError) as wrong_type:  # was INTERNAL_ERROR (the TOML writer choked on null)
            rpc(daemon, "config.set", {"section": "mining", "values": values})
        assert wrong_type.value.code == 1009 and next(iter(values)) in wrong_type.value.message
    with pytest.raises(p.RpcError) as unknown:
        rpc(daemon, "config.set", {"section": "mining", "values": {"turbo": True}})
    assert "turbo" in unknown.value.message
    got = rpc(daemon, "config.set", {"section": "mining", "values": {"idle_minutes": 7}})
    assert got["config"]["mining"]["idle_minutes"] == 7
    assert "idle_minutes = 7" in (daemon / "config.toml").read_text()


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG autostart entry is the Linux form")
def test_start_at_login_writes_and_removes_the_login_entry(daemon: Path) -> None:
    """Issue 16: the setting was saved and did nothing, so nothing mined after a reboot."""
    entry = daemon / "xdg" / "autostart" / "potminer.desktop"
    rpc(daemon, "config.set", {"section": "ui", "values": {"start_at_login": True}})
    text = entry.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert " gui " in exec_line and "--hidden" in exec_line and str(daemon) in exec_line  # the window, in the tray
    rpc(daemon, "config.set", {"section": "ui", "values": {"start_at_login": False}})
    assert not entry.exists()


def test_offline_node_methods_say_what_to_do(daemon: Path) -> None:
    done = cli(daemon, "peers", check=False)
    assert done.returncode == 1 and "--offline" in done.stderr
    as_json = cli(daemon, "peers", "--json", check=False)  # issue 16: --json errors were plain text
    assert as_json.returncode == 1 and "--offline" in json.loads(as_json.stdout)["error"]


def test_stop_releases_the_lock(tmp_path: Path) -> None:
    proc = start_daemon(tmp_path / "d", "--offline")
    out = cli(tmp_path / "d", "stop")
    assert "stopped" in out.stdout
    assert proc.wait(30) == 0
    assert read_lock_info(tmp_path / "d") is None


def test_restart_brings_up_a_fresh_daemon_with_the_saved_settings(tmp_path: Path) -> None:
    """`restart` (how network settings take effect): the same process comes back with a new token and
    the config saved before it; the CLI waits for it."""
    datadir = tmp_path / "d"
    proc = start_daemon(datadir, "--offline")
    try:
        token = read_token_file(token_path(datadir))
        rpc(datadir, "config.set", {"section": "mining", "values": {"idle_minutes": 7}})
        out = cli(datadir, "restart")
        assert "daemon restarted" in out.stdout
        assert read_token_file(token_path(datadir)) != token and proc.poll() is None  # same process id
        daemon = cli_json(datadir, "status")["daemon"]
        assert daemon["uptime_s"] < 60 and (os.name != "posix" or daemon["pid"] == proc.pid)  # same process
        assert rpc(datadir, "config.get")["config"]["mining"]["idle_minutes"] == 7
        assert "restarting to apply the network settings" in (datadir / "logs" / "potminer.log").read_text()
    finally:
        stop_daemon(proc)


def test_the_data_folder_and_logs_are_private(daemon: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permission bits")
    assert os.stat(daemon).st_mode & 0o777 == 0o700  # it was 0755 before the daemon started
    assert os.stat(daemon / "logs" / "potminer.log").st_mode & 0o777 == 0o600
    assert "was readable by others (mode 755)" in (daemon / "logs" / "potminer.log").read_text()
