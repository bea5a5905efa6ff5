"""The window's RPC client: reconnects after a real daemon restarts (fresh token), and error states the
real daemon does not produce, from a scripted server (refused hello, garbage, a call never answered)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.rpc.endpoint import Endpoint
from app.ui.rpc_client import CALL_TIMEOUT, NOT_CONNECTED, RpcClient, Target, locate
from tests.daemon.daemon_proc import start_daemon, stop_daemon, write_config


def test_reconnects_after_the_daemon_restarts(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A real daemon (--offline: no node needed for this) stops and starts again with a fresh token."""
    data = tmp_path / "data"
    write_config(data, '[mining]\nmode = "never"\npause_on_battery = false\n')
    client = RpcClient(lambda: locate(data), backoff_ms=(50, 400))
    client.start()
    qtbot.waitUntil(lambda: "no daemon is running" in client.detail, timeout=3000)
    failures: list[object] = []
    client.call("status").then(None, failures.append)
    qtbot.waitUntil(lambda: bool(failures), timeout=1000)
    assert failures[0].code == NOT_CONNECTED  # type: ignore[attr-defined]
    proc = start_daemon(data, "--offline")
    try:
        qtbot.waitUntil(client.is_ready, timeout=10000)
        events: list[str] = []
        client.event.connect(lambda kind, _d: events.append(kind))
        client.call("mine.start")  # off -> on (paused: no wallet): the daemon announces the new state
        qtbot.waitUntil(lambda: "mining_state" in events, timeout=10000)
        token = (data / "rpc.token").read_text()
    finally:
        stop_daemon(proc)
    qtbot.waitUntil(lambda: client.state == RpcClient.OFFLINE, timeout=10000)
    proc = start_daemon(data, "--offline")  # a new process writes a new token: the client must re-read it
    try:
        assert (data / "rpc.token").read_text() != token
        qtbot.waitUntil(client.is_ready, timeout=10000)
        results: list[object] = []
        client.call("ping").then(results.append)
        qtbot.waitUntil(lambda: results == ["pong"], timeout=5000)
    finally:
        client.stop()
        stop_daemon(proc)


class ScriptedServer:
    """A Unix socket that answers each line with `reply(request)` (None: stay silent)."""

    def __init__(self, path: Path, reply: Callable[[dict], list[bytes] | None]) -> None:  # type: ignore[type-arg]
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen()
        self.reply = reply
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines, contextlib.suppress(BrokenPipeError, ConnectionResetError):
            # (a client may hang up while an answer is being written: a refused hello is dropped at once)
            for line in lines:
                out = self.reply(json.loads(line))
                if out is None:
                    continue
                for chunk in out:
                    conn.sendall(chunk)
                if out and b"UNAUTHORIZED" in out[-1]:
                    return


def answer(req: dict, result: object) -> bytes:  # type: ignore[type-arg]
    return json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": result}).encode() + b"\n"


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "s.sock"


def test_refused_hello_is_reported_and_retried(qtbot, sock_path: Path) -> None:  # type: ignore[no-untyped-def]
    def reply(req: dict) -> list[bytes]:  # type: ignore[type-arg]
        err = {"code": -32001, "message": "wrong RPC token: read it from the daemon's token file"}
        return [json.dumps({"jsonrpc": "2.0", "id": req["id"], "error": err, "x": "UNAUTHORIZED"}).encode() + b"\n"]

    server = ScriptedServer(sock_path, reply)
    client = RpcClient(lambda: Target(Endpoint("unix", path=str(sock_path)), "0" * 64), backoff_ms=(50, 100))
    client.start()
    qtbot.waitUntil(lambda: "refused the window: wrong RPC token" in client.detail, timeout=3000)
    qtbot.waitUntil(lambda: server.connections >= 3, timeout=3000)
    assert not client.is_ready()
    client.stop()


def test_garbage_is_skipped_and_silent_calls_time_out(qtbot, sock_path: Path) -> None:  # type: ignore[no-untyped-def]
    def reply(req: dict) -> list[bytes] | None:  # type: ignore[type-arg]
        if req["method"] == "hello":
            return [
                b"not json\n",
                b'{"jsonrpc":"2.0","method":"event","params":{"kind":"warning","seq":1,'
                b'"data":{"message":"disk almost full"}}}\n',
                answer(req, {"server": "scripted", "events": ["warning"]}),
            ]
        if req["method"] == "subscribe":
            return [
                answer(req, {"subscribed": ["warning"]}),
                b'{"jsonrpc":"2.0","method":"event","params":{"kind":"warning","seq":3,"data":{}}}\n',
            ]
        return None  # "status" is never answered

    ScriptedServer(sock_path, reply)
    client = RpcClient(lambda: Target(Endpoint("unix", path=str(sock_path)), "0" * 64), call_timeout_ms=300)
    events: list[str] = []
    lost: list[bool] = []
    client.event.connect(lambda kind, data: events.append(data.get("message", kind)))
    client.eventsLost.connect(lambda: lost.append(True))
    client.start()
    qtbot.waitUntil(client.is_ready, timeout=3000)
    qtbot.waitUntil(lambda: len(events) == 2, timeout=3000)
    assert events[0] == "disk almost full" and lost == [True], "seq 1 then 3: a gap tells the window to refresh"
    failures: list[object] = []
    client.call("status").then(None, failures.append)
    qtbot.waitUntil(lambda: bool(failures), timeout=3000)
    assert failures[0].code == CALL_TIMEOUT and client.is_ready()  # type: ignore[attr-defined]
    client.stop()


def test_a_missed_notice_tells_the_window_to_refresh(qtbot, sock_path: Path) -> None:  # type: ignore[no-untyped-def]
    def reply(req: dict) -> list[bytes] | None:  # type: ignore[type-arg]
        if req["method"] == "hello":
            return [answer(req, {"server": "scripted", "events": ["warning"]})]
        if req["method"] == "subscribe":  # the daemon dropped 40 events: no later event needed to notice
            return [
                answer(req, {"subscribed": ["warning"]}),
                b'{"jsonrpc":"2.0","method":"missed","params":{"missed":40,"last_seq":40}}\n',
            ]
        return None

    ScriptedServer(sock_path, reply)
    client = RpcClient(lambda: Target(Endpoint("unix", path=str(sock_path)), "0" * 64))
    lost: list[bool] = []
    client.eventsLost.connect(lambda: lost.append(True))
    client.start()
    qtbot.waitUntil(lambda: lost == [True], timeout=3000)
    client.stop()
