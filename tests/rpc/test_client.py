"""The blocking client: light imports for the window, clear errors when nobody listens or time runs out."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.rpc.client import DaemonNotRunning, RpcClient, RpcConnectionError, RpcTimeout
from app.rpc.endpoint import Endpoint

ROOT = Path(__file__).resolve().parents[2]


def test_window_side_imports_stay_light() -> None:
    code = (
        "import sys, app.rpc.client, app.rpc.schema, app.config, app.log\n"
        "heavy = [m for m in ('torch', 'trio', 'libp2p', 'PySide6') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_nobody_listening_is_daemon_not_running() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DaemonNotRunning, match="nothing answers"):
        RpcClient(f"tcp:127.0.0.1:{port}", "t" * 64, timeout=2).connect()


def test_silent_server_times_out_and_garbage_is_reported() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        endpoint = Endpoint.tcp("127.0.0.1", listener.getsockname()[1])
        accepted: list[socket.socket] = []
        t = threading.Thread(target=lambda: accepted.append(listener.accept()[0]))
        t.start()
        with pytest.raises(RpcTimeout, match="hello"):
            RpcClient(endpoint, "t" * 64, timeout=0.3).connect()
        t.join()

        def accept_and_babble() -> None:
            conn = listener.accept()[0]
            accepted.append(conn)
            conn.sendall(b"not json\n")

        t = threading.Thread(target=accept_and_babble)
        t.start()
        try:
            with pytest.raises(RpcConnectionError, match="unreadable"):
                RpcClient(endpoint, "t" * 64, timeout=5).connect()
        finally:
            t.join()
            for s in accepted:
                s.close()


def test_call_before_connect_is_an_error() -> None:
    with pytest.raises(RpcConnectionError, match="connect"):
        RpcClient("tcp:127.0.0.1:1", "t" * 64).call("ping")
