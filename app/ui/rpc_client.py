"""The window's RPC client: a QObject over QLocalSocket (Unix socket) or QTcpSocket, never blocking.

Speaks docs/RPC.md: one JSON object per line, `hello(token)` first, then `subscribe` to every event
kind. Calls return a `PendingCall` whose `done`/`failed` signals fire on the GUI thread; events arrive
as the `event(kind, data)` signal. When the daemon goes away (restart, crash) the client reconnects
with exponential backoff, re-reading the lockfile and token each time (a restarted daemon writes a
fresh token), and tells the window through `stateChanged`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtNetwork import QLocalSocket, QTcpSocket
from shiboken6 import isValid

from app import __version__
from app.rpc import protocol as p
from app.rpc.auth import read_token_file, token_path
from app.rpc.discovery import LockFileError, read_lock_info
from app.rpc.endpoint import Endpoint, EndpointError
from app.ui import api

log = logging.getLogger(__name__)

CLIENT_NAME = f"potminer-gui/{__version__}"
NOT_CONNECTED = -1  # local error code: the call never reached the daemon
CALL_TIMEOUT = -2  # local error code: no answer in time


@dataclass(frozen=True)
class Target:
    endpoint: Endpoint
    token: str


class NoDaemon(Exception):
    """The data folder has no reachable daemon yet; the message says why (shown in the status bar)."""


def locate(data_dir: Path) -> Target:
    """Where the daemon of `data_dir` listens and its token, from the lockfile and token file."""
    try:
        info = read_lock_info(data_dir)
    except (LockFileError, PermissionError) as exc:
        raise NoDaemon(str(exc)) from None
    if info is None:
        raise NoDaemon(f"no daemon is running on {data_dir}")
    if info.endpoint is None:
        raise NoDaemon(f"the daemon (pid {info.pid}) is starting")
    try:
        endpoint = Endpoint.parse(info.endpoint)
        token = read_token_file(token_path(data_dir))
    except (EndpointError, OSError, ValueError) as exc:
        raise NoDaemon(str(exc)) from None
    return Target(endpoint, token)


class PendingCall(QObject):
    """One request in flight; exactly one of `done(result)` or `failed(RpcError)` is emitted."""

    done = Signal(object)
    failed = Signal(object)

    def __init__(self, method: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.method = method
        self.finished = False

    def then(
        self, on_done: Callable[[Any], None] | None = None, on_failed: Callable[[p.RpcError], None] | None = None
    ) -> PendingCall:
        if on_done is not None:
            self.done.connect(on_done)
        if on_failed is not None:
            self.failed.connect(on_failed)
        return self

    def _finish(self, result: Any = None, error: p.RpcError | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        if error is not None:
            self.failed.emit(error)
        else:
            self.done.emit(result)
        self.deleteLater()


class RpcClient(QObject):
    """Connects to the daemon of one data folder and keeps connecting until `stop()`."""

    OFFLINE, CONNECTING, READY = "offline", "connecting", "ready"

    stateChanged = Signal(str, str)  # state, human-readable detail
    ready = Signal(dict)  # the hello answer
    event = Signal(str, object)  # kind, data
    eventsLost = Signal()  # a gap in seq: refresh with ordinary calls
    closing = Signal(str)  # the daemon said it is stopping, and why

    def __init__(
        self,
        locator: Callable[[], Target],
        parent: QObject | None = None,
        *,
        call_timeout_ms: int = 30_000,
        backoff_ms: tuple[int, int] = (250, 5_000),
    ) -> None:
        super().__init__(parent)
        self._locator = locator
        self._call_timeout_ms = call_timeout_ms
        self._backoff_min, self._backoff_max = backoff_ms
        self._backoff = self._backoff_min
        self._ids = itertools.count(1)
        self._pending: dict[int, PendingCall] = {}
        self._queued: list[tuple[int, bytes]] = []  # calls made while the handshake runs
        self._socket: QLocalSocket | QTcpSocket | None = None
        self._running = False
        self._last_seq = 0
        self.state = self.OFFLINE
        self.detail = ""
        self.server_info: dict[str, Any] = {}
        self.attempts = 0
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self._connect)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._running = True
        self._connect()

    def stop(self) -> None:
        self._running = False
        self._retry.stop()
        self._drop_socket("the window closed the connection")

    def is_ready(self) -> bool:
        return self.state == self.READY

    def _set_state(self, state: str, detail: str) -> None:
        if (state, detail) != (self.state, self.detail):
            self.state, self.detail = state, detail
            self.stateChanged.emit(state, detail)

    def _connect(self) -> None:
        if not self._running or self._socket is not None:
            return
        self.attempts += 1
        try:
            target = self._locator()
        except NoDaemon as exc:
            self._schedule_retry(str(exc))
            return
        self._set_state(self.CONNECTING, f"connecting to {target.endpoint}")
        sock: QLocalSocket | QTcpSocket
        if target.endpoint.transport == "unix":
            sock = QLocalSocket(self)
            sock.connected.connect(lambda: self._on_connected(target.token))
            sock.errorOccurred.connect(lambda _e: self._on_socket_error(sock.errorString()))
            sock.disconnected.connect(lambda: self._on_socket_error("the daemon closed the connection"))
            sock.readyRead.connect(self._on_ready_read)
            self._socket = sock
            sock.connectToServer(target.endpoint.path)
        else:
            sock = QTcpSocket(self)
            sock.connected.connect(lambda: self._on_connected(target.token))
            sock.errorOccurred.connect(lambda _e: self._on_socket_error(sock.errorString()))
            sock.disconnected.connect(lambda: self._on_socket_error("the daemon closed the connection"))
            sock.readyRead.connect(self._on_ready_read)
            self._socket = sock
            sock.connectToHost(target.endpoint.host, target.endpoint.port)

    def _schedule_retry(self, why: str) -> None:
        if not self._running:
            self._set_state(self.OFFLINE, why)
            return
        self._set_state(self.OFFLINE, f"{why}; retrying in {self._backoff / 1000:.1f} s")
        self._retry.start(self._backoff)
        self._backoff = min(self._backoff * 2, self._backoff_max)

    def _drop_socket(self, why: str) -> None:
        sock, self._socket = self._socket, None
        if sock is not None and isValid(sock):
            sock.blockSignals(True)  # its disconnected/error signals must not re-enter this method
            sock.abort()
            sock.deleteLater()
        error = p.RpcError(NOT_CONNECTED, f"not connected to the daemon ({why})")
        pending, self._pending = self._pending, {}
        self._queued.clear()
        for call in pending.values():
            call._finish(error=error)
        self._last_seq = 0

    def _on_socket_error(self, why: str) -> None:
        if self._socket is None or not isValid(self):
            return
        was_ready = self.state == self.READY
        self._drop_socket(why)
        if was_ready:
            self._backoff = self._backoff_min
        self._schedule_retry(why)

    def _on_connected(self, token: str) -> None:
        hello = {"token": token, "versions": list(p.SUPPORTED_VERSIONS), "client": CLIENT_NAME}
        self._send_now(next(self._ids), "hello", hello, self._make_pending("hello")).then(
            self._on_hello, lambda err: self._on_socket_error(f"the daemon refused the window: {err.message}")
        )

    def _on_hello(self, info: Any) -> None:
        self.server_info = info if isinstance(info, dict) else {}
        offered = set(self.server_info.get("events", api.ALL_EVENTS))
        kinds = [k for k in api.ALL_EVENTS if k in offered]
        # Register as ready first so that this subscribe and the queued calls go out in order.
        self._set_state(self.READY, f"connected to {self.server_info.get('server', 'the daemon')}")
        self._backoff = self._backoff_min
        queued, self._queued = self._queued, []
        if kinds:
            self.call("subscribe", {"kinds": kinds})
        for _req_id, data in queued:
            self._write(data)
        self.ready.emit(self.server_info)

    # -- calls --------------------------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None) -> PendingCall:
        """Send `method`; the answer arrives as the returned call's `done` or `failed` signal."""
        pending = self._make_pending(method)
        req_id = next(self._ids)
        data = p.encode_request(p.Request(method=method, params=params or {}, id=req_id))
        if self.state == self.READY:
            self._pending[req_id] = pending
            self._write(data)
        elif self.state == self.CONNECTING and self._socket is not None:
            self._pending[req_id] = pending
            self._queued.append((req_id, data))
        else:
            QTimer.singleShot(
                0,
                lambda: pending._finish(
                    error=p.RpcError(NOT_CONNECTED, f"not connected to the daemon ({self.detail or 'offline'})")
                ),
            )
            return pending
        QTimer.singleShot(self._call_timeout_ms, pending, lambda: self._time_out(req_id))
        return pending

    def _make_pending(self, method: str) -> PendingCall:
        return PendingCall(method, self)

    def _send_now(self, req_id: int, method: str, params: dict[str, Any], pending: PendingCall) -> PendingCall:
        self._pending[req_id] = pending
        self._write(p.encode_request(p.Request(method=method, params=params, id=req_id)))
        return pending

    def _time_out(self, req_id: int) -> None:
        call = self._pending.pop(req_id, None)
        if call is not None:
            call._finish(error=p.RpcError(CALL_TIMEOUT, f"the daemon did not answer {call.method!r} in time"))

    def _write(self, data: bytes) -> None:
        """Write and hand the bytes to the OS now (`flush` never blocks): a call made just before the event
        loop stalls, such as `restart` before a busy slot, still reaches the daemon."""
        if self._socket is not None:
            self._socket.write(data)
            self._socket.flush()

    # -- reading ------------------------------------------------------------------------------
    def _on_ready_read(self) -> None:
        sock = self._socket
        while sock is not None and sock.canReadLine():
            line = bytes(sock.readLine().data()).rstrip(b"\r\n")
            if line.strip():
                self._handle_line(line)
            sock = self._socket  # a handler may have dropped the connection
        if sock is not None and sock.bytesAvailable() > p.MAX_RESPONSE_BYTES:
            self._on_socket_error("the daemon sent a message over the size limit")

    def _handle_line(self, line: bytes) -> None:
        try:
            msg = p.decode_server_message(line)
        except p.ProtocolError as exc:
            log.warning("unreadable message from the daemon: %s", exc)
            return
        if isinstance(msg, p.Notification):
            self._handle_notification(msg)
            return
        call = self._pending.pop(msg.id, None) if isinstance(msg.id, int) else None
        if call is None:
            if msg.id is None and msg.error is not None:  # a parting error: the daemon hangs up next
                self._on_socket_error(msg.error.message)
            return
        call._finish(msg.result, msg.error)

    def _handle_notification(self, note: p.Notification) -> None:
        if note.method == p.NOTIFY_CLOSING:
            reason = str(note.params.get("reason", "the daemon is stopping"))
            self.closing.emit(reason)
            return
        if note.method == p.NOTIFY_MISSED:  # the daemon dropped events for us: refresh at once
            self.eventsLost.emit()
            return
        if note.method != p.NOTIFY_EVENT or note.kind is None:
            return
        seq = note.seq
        if seq is not None:
            if self._last_seq and seq != self._last_seq + 1:
                self.eventsLost.emit()
            self._last_seq = seq
        self.event.emit(note.kind, note.data if note.data is not None else {})
