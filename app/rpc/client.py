"""A blocking RPC client for the CLI, scripts and tests.

One socket, one thread: `call()` sends a request and reads until its answer, keeping any notification
that arrives meanwhile for `next_notification()`. Not thread-safe; open one client per thread. The Qt
window has its own non-blocking client over QLocalSocket speaking the same lines (docs/RPC.md).
"""

from __future__ import annotations

import collections
import itertools
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from app import __version__
from app.rpc import protocol as p
from app.rpc.auth import read_token_file, token_path
from app.rpc.discovery import read_lock_info
from app.rpc.endpoint import Endpoint
from app.rpc.framing import FrameTooLarge, LineSplitter

DEFAULT_TIMEOUT = 10.0


class RpcConnectionError(ConnectionError):
    """The daemon could not be reached or the connection broke."""


class DaemonNotRunning(RpcConnectionError):
    """No daemon is serving this data folder."""


class RpcTimeout(RpcConnectionError, TimeoutError):
    """No answer within the timeout."""


class RpcClient:
    """Connects, authenticates with `hello`, then calls methods and receives notifications."""

    def __init__(
        self,
        endpoint: Endpoint | str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        client_name: str = f"potminer-cli/{__version__}",
        max_message: int = p.MAX_RESPONSE_BYTES,
    ) -> None:
        self.endpoint = endpoint if isinstance(endpoint, Endpoint) else Endpoint.parse(endpoint)
        self.timeout = timeout
        self._token = token
        self._client_name = client_name
        self._splitter = LineSplitter(max_message)
        self._lines: collections.deque[bytes] = collections.deque()
        self._notes: collections.deque[p.Notification] = collections.deque()
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self.server_info: dict[str, Any] = {}

    @classmethod
    def for_datadir(cls, data_dir: Path, **kwargs: Any) -> RpcClient:
        """A client for the daemon running on `data_dir`, found through its lockfile and token file."""
        info = read_lock_info(data_dir)
        if info is None:
            raise DaemonNotRunning(
                f"no daemon is running on {data_dir} (no lockfile); start one with 'potminer daemon'"
            )
        if info.endpoint is None:
            raise DaemonNotRunning(f"the daemon on {data_dir} (pid {info.pid}) is still starting; try again shortly")
        return cls(info.endpoint, read_token_file(token_path(data_dir)), **kwargs)

    # -- connection ---------------------------------------------------------------------------
    def connect(self) -> dict[str, Any]:
        """Open the socket and authenticate; returns the server's hello answer."""
        if self._sock is not None:
            return self.server_info
        try:
            self._sock = self.endpoint.connect(self.timeout)
        except socket.timeout:
            raise RpcTimeout(f"connecting to the daemon at {self.endpoint} timed out") from None
        except OSError as exc:
            raise DaemonNotRunning(
                f"nothing answers at {self.endpoint} ({exc.strerror or exc}); is the daemon running?"
            ) from None
        params = {"token": self._token, "versions": list(p.SUPPORTED_VERSIONS), "client": self._client_name}
        try:
            self.server_info = self.call("hello", params)
        except BaseException:
            self.close()
            raise
        return self.server_info

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> RpcClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls --------------------------------------------------------------------------------
    def call(
        self, method: str, params: dict[str, Any] | list[Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        """Call `method` and return its result; raises RpcError for an error answer."""
        req_id = next(self._ids)
        try:
            self.send_raw(
                p.encode_request(p.Request(method=method, params={} if params is None else params, id=req_id))
            )
        except RpcConnectionError as exc:
            raise self._parting_error() or exc
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            msg = self._read_message(deadline, f"waiting for the answer to {method!r}")
            if isinstance(msg, p.Notification):
                self._notes.append(msg)
                continue
            if msg.id == req_id or (msg.id is None and msg.error is not None):
                if msg.error is not None:
                    raise msg.error
                return msg.result

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (tests use this to send malformed input)."""
        sock = self._require_socket()
        try:
            sock.sendall(data)
        except socket.timeout:
            raise RpcTimeout(f"sending to the daemon at {self.endpoint} timed out") from None
        except OSError as exc:
            raise RpcConnectionError(f"lost the connection to the daemon: {exc}") from None

    def _parting_error(self) -> p.RpcError | None:
        """The error the daemon sent before hanging up on us (e.g. too many connections), if any."""
        try:
            while True:
                msg = self._read_message(time.monotonic() + 1.0, "reading the daemon's parting message")
                if isinstance(msg, p.Response) and msg.error is not None and msg.id is None:
                    return msg.error
        except RpcConnectionError:
            return None

    def ping(self) -> bool:
        return bool(self.call("ping") == "pong")

    def subscribe(self, kinds: Iterable[str]) -> list[str]:
        """Receive notifications for these event kinds; returns everything now subscribed."""
        return list(self.call("subscribe", {"kinds": list(kinds)})["subscribed"])

    def unsubscribe(self, kinds: Iterable[str] | None = None) -> list[str]:
        params = {} if kinds is None else {"kinds": list(kinds)}
        return list(self.call("unsubscribe", params)["subscribed"])

    # -- notifications ------------------------------------------------------------------------
    def next_notification(self, timeout: float | None = None) -> p.Notification | None:
        """The next notification, or None when none arrives within `timeout`."""
        if self._notes:
            return self._notes.popleft()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                msg = self._read_message(deadline, "waiting for a notification")
            except RpcTimeout:
                return None
            if isinstance(msg, p.Notification):
                return msg
            if msg.error is not None and msg.id is None:
                raise msg.error

    def notifications(self, idle_timeout: float | None = None) -> Iterator[p.Notification]:
        """Yield notifications until none arrives for `idle_timeout` seconds or the daemon closes."""
        while True:
            try:
                note = self.next_notification(idle_timeout)
            except RpcConnectionError:
                return
            if note is None:
                return
            yield note
            if note.method == p.NOTIFY_CLOSING:
                return

    # -- reading ------------------------------------------------------------------------------
    def _require_socket(self) -> socket.socket:
        if self._sock is None:
            raise RpcConnectionError("not connected: call connect() first")
        return self._sock

    def _read_message(self, deadline: float, doing: str) -> p.Response | p.Notification:
        sock = self._require_socket()
        while not self._lines:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RpcTimeout(f"timed out {doing}")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                raise RpcTimeout(f"timed out {doing}") from None
            except OSError as exc:
                raise RpcConnectionError(f"lost the connection to the daemon: {exc}") from None
            if not chunk:
                raise RpcConnectionError("the daemon closed the connection")
            try:
                self._lines.extend(self._splitter.feed(chunk))
            except FrameTooLarge as exc:
                self.close()
                raise RpcConnectionError(f"the daemon sent a {exc}") from None
        try:
            return p.decode_server_message(self._lines.popleft())
        except p.ProtocolError as exc:
            raise RpcConnectionError(f"the daemon sent something unreadable: {exc}") from None
