"""The daemon's JSON-RPC server: Unix socket or loopback TCP, token auth, limits, event subscriptions.

Threads, not the daemon's trio loop, so a busy node or a training step never delays an answer: one
accept thread, and per authenticated connection a reader (which runs that connection's handlers in
order) and a writer (which owns all sends, so event pushes never interleave with responses).

Before `hello` a connection holds no thread and no connection slot: the accept thread reads its first
line itself (non-blocking, small, within `hello_timeout`) and checks the token there. Unauthenticated
connections sit in a bounded pool where the oldest is dropped to admit a new one, so a program without
the token that opens connections and stays silent cannot keep the owner's own client out (the owner's
hello arrives microseconds after its connect). Every bad input gets a JSON-RPC error and leaves the
other connections untouched; see docs/RPC.md for which errors also close the connection.

This module is the server: registration, the accept thread with its pre-hello slots and the token
check, dispatch and the built-in methods. An authenticated connection and its event delivery are in
rpc_connection.py; binding the socket and refusing a connection are in rpc_sockets.py.
"""

from __future__ import annotations

import itertools
import logging
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from app import __version__
from app.daemon.events import Event, EventBus, Subscription
from app.daemon.rpc_connection import Close, Connection
from app.daemon.rpc_sockets import bind, close_quietly, peer_refusal, refuse, unlink_socket
from app.rpc import protocol as p
from app.rpc.auth import tokens_equal
from app.rpc.endpoint import Endpoint
from app.rpc.framing import FrameTooLarge
from app.rpc.schema import Param, Schema, secret_values, validate_params

log = logging.getLogger(__name__)

Handler = Callable[..., Any]
BUILTIN_METHODS = frozenset({"hello", "version", "ping", "subscribe", "unsubscribe"})


@dataclass(frozen=True)
class ServerLimits:
    """Bounds that keep one client from hurting the daemon or the other clients."""

    max_request_bytes: int = p.MAX_REQUEST_BYTES
    max_connections: int = 16  # authenticated connections (a slot is taken only once the token checks)
    hello_timeout: float = 2.0  # an unauthenticated connection must say hello within this
    max_pending: int = 64  # connections not yet authenticated; the oldest is dropped to admit another
    max_hello_bytes: int = 8192  # the first line (hello) may be at most this long
    max_refusing: int = 32  # refusals being delivered at once; beyond it a refused socket is just closed
    send_queue: int = 1000  # messages waiting per connection; events beyond it are dropped (and counted)
    close_timeout: float = 2.0


@dataclass
class _Pending:
    """A connection that has not said hello yet: owned by the accept thread alone."""

    deadline: float
    buf: bytearray = field(default_factory=bytearray)

    def first_line(self, limit: int) -> tuple[bytes, bytes] | None:
        """(hello line, bytes after it) once a non-blank line is whole; raises FrameTooLarge past `limit`."""
        while (end := self.buf.find(b"\n")) >= 0:
            if end > limit:
                raise FrameTooLarge(limit)
            line = bytes(self.buf[:end]).rstrip(b"\r")
            del self.buf[: end + 1]
            if line.strip():  # blank lines are keep-alives, as after hello
                return line, bytes(self.buf)
        if len(self.buf) > limit:
            raise FrameTooLarge(limit)
        return None


@dataclass(frozen=True)
class _Method:
    handler: Handler
    schema: Schema


class RpcServer:
    """Serve registered methods and bus events to local clients holding `token`."""

    def __init__(
        self,
        endpoint: Endpoint,
        token: str,
        bus: EventBus | None = None,
        limits: ServerLimits = ServerLimits(),
        redact: Callable[[str], None] | None = None,
    ) -> None:
        self._requested = endpoint
        self._token = token
        self._bus = bus
        self._redact = redact  # the log redactor: every param a schema marks secret goes here on arrival
        self.limits = limits
        self._methods: dict[str, _Method] = {}
        self._conns: set[Connection] = set()
        self._pending: dict[socket.socket, _Pending] = {}  # oldest first; accept thread only
        self._refusing = 0
        self._quiet_until = 0.0  # refusal warnings are logged at most once a second (a flood must not fill the log)
        self._quieted = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._listener: socket.socket | None = None
        self._bound: Endpoint | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._bus_sub: Subscription | None = None

    # -- registration -------------------------------------------------------------------------
    def register(self, name: str, handler: Handler, params: Schema | None = None) -> None:
        """Expose `handler` as `name`; it is called with validated keyword arguments from `params`."""
        if name in BUILTIN_METHODS or name in self._methods:
            raise ValueError(f"RPC method {name!r} is already registered")
        if not p.METHOD_NAME.match(name):
            raise ValueError(f"RPC method name {name!r} must look like 'ping' or 'wallet.send'")
        self._methods[name] = _Method(handler, dict(params or {}))

    def method_names(self) -> list[str]:
        return sorted(BUILTIN_METHODS | set(self._methods))

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def endpoint(self) -> Endpoint:
        """The endpoint actually bound (with the real port); only after start()."""
        if self._bound is None:
            raise RuntimeError("the RPC server is not started")
        return self._bound

    def start(self) -> Endpoint:
        self._listener, self._bound = bind(self._requested)
        self._listener.listen(socket.SOMAXCONN)  # a long queue: a flood of connects must not fill it
        self._listener.setblocking(False)
        if self._bus is not None:
            self._bus_sub = self._bus.subscribe(self._on_event)
        self._thread = threading.Thread(target=self._accept_loop, name="rpc-accept", daemon=True)
        self._thread.start()
        log.info("RPC listening on %s", self._bound)
        return self._bound

    def stop(self, reason: str = "daemon stopping") -> None:
        """Tell clients why, close every connection, stop listening; safe to call twice."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._bus_sub is not None:
            self._bus_sub.close()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            conns = list(self._conns)
        note = p.encode_notification(p.Notification(p.NOTIFY_CLOSING, {"reason": reason}))
        for conn in conns:
            conn.offer(note)
            conn.request_close()
        for conn in conns:
            conn.flush_and_abort(self.limits.close_timeout)
        self._wake_r.close()
        self._wake_w.close()
        if self._bound is not None and self._bound.transport == "unix":
            unlink_socket(Path(self._bound.path))
        log.info("RPC stopped")

    def __enter__(self) -> RpcServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def connection_count(self) -> int:
        """Authenticated connections (those holding a slot)."""
        with self._lock:
            return len(self._conns)

    def pending_count(self) -> int:
        """Connections that have not said hello yet."""
        return len(self._pending)

    # -- accept and hello (accept thread only) ------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                timeout = None
                if self._pending:
                    timeout = max(0.0, min(x.deadline for x in self._pending.values()) - time.monotonic())
                for key, _ in sel.select(timeout):
                    if key.fileobj is self._wake_r:
                        return
                    if key.fileobj is self._listener:
                        self._accept_some(sel)
                    elif key.fileobj in self._pending:
                        self._read_hello(key.fileobj, sel)  # type: ignore[arg-type]
                self._expire_pending(sel)
        finally:
            for sock in list(self._pending):
                self._unpend(sock, sel)
                sock.close()
            sel.close()
            self._listener.close()

    def _accept_some(self, sel: selectors.BaseSelector) -> None:
        """Accept what is queued (a bounded batch, so hellos already sent are read in between)."""
        assert self._listener is not None
        for _ in range(self.limits.max_pending):
            try:
                sock, _addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("RPC accept failed: %s", exc)
                return
            self._admit(sock, sel)

    def _admit(self, sock: socket.socket, sel: selectors.BaseSelector) -> None:
        refusal = peer_refusal(sock)
        if refusal is not None:
            self._refuse(sock, refusal)
            return
        while len(self._pending) >= self.limits.max_pending:
            self._drop_oldest_pending(sel)
        sock.setblocking(False)
        self._pending[sock] = _Pending(time.monotonic() + self.limits.hello_timeout)
        sel.register(sock, selectors.EVENT_READ)

    def _drop_oldest_pending(self, sel: selectors.BaseSelector) -> None:
        """Make room: read what the oldest pending connection sent (a hello already there is served),
        and drop it only if it still has not said a whole hello."""
        oldest = next(iter(self._pending))
        self._read_hello(oldest, sel)
        if oldest in self._pending:
            self._unpend(oldest, sel)
            self._warn(f"{self.limits.max_pending} connections without hello; dropped the oldest")
            close_quietly(
                oldest,
                p.RpcError(
                    p.ErrorCode.TOO_MANY_CONNECTIONS, "too many connections waiting to say hello; send hello at once"
                ),
            )

    def _unpend(self, sock: socket.socket, sel: selectors.BaseSelector) -> _Pending | None:
        try:
            sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        return self._pending.pop(sock, None)

    def _expire_pending(self, sel: selectors.BaseSelector) -> None:
        now = time.monotonic()
        for sock in [s for s, x in self._pending.items() if x.deadline <= now]:
            self._unpend(sock, sel)
            self._refuse(
                sock,
                p.RpcError(
                    p.ErrorCode.UNAUTHORIZED, f"no hello with the token within {self.limits.hello_timeout:g} s; closing"
                ),
            )

    def _read_hello(self, sock: socket.socket, sel: selectors.BaseSelector) -> None:
        """Read what a pending connection sent; on a whole first line, check it is a good hello."""
        pending = self._pending[sock]
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._unpend(sock, sel)
            sock.close()
            return
        pending.buf += chunk
        try:
            found = pending.first_line(self.limits.max_hello_bytes)
        except FrameTooLarge as exc:
            self._unpend(sock, sel)
            self._refuse(sock, p.RpcError(p.ErrorCode.MESSAGE_TOO_LARGE, f"hello refused: {exc}"))
            return
        if found is None:
            return
        self._unpend(sock, sel)
        first, rest = found
        try:
            req = p.decode_request(first)
        except p.ProtocolError as exc:
            self._refuse(sock, exc.as_rpc_error(), exc.request_id)
            return
        if req.method != "hello":
            self._refuse(
                sock,
                p.RpcError(p.ErrorCode.UNAUTHORIZED, "not authenticated: send 'hello' with the token first"),
                req.id,
            )
            return
        try:
            result = self.check_hello(req.params)
        except Close as close:
            self._refuse(sock, close.error, req.id)
            return
        with self._lock:
            full = len(self._conns) >= self.limits.max_connections
            if not full:
                conn = Connection(self, sock, next(self._ids), result["protocol"], rest)
                self._conns.add(conn)
        if full:
            self._refuse(
                sock,
                p.RpcError(
                    p.ErrorCode.TOO_MANY_CONNECTIONS,
                    f"too many RPC connections (limit {self.limits.max_connections}); close another client",
                ),
                req.id,
            )
            return
        conn.start(req.id, result)

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now < self._quiet_until:
            self._quieted += 1
            return
        more = f" (and {self._quieted} more in the last second)" if self._quieted else ""
        log.warning("RPC %s%s", message, more)
        self._quiet_until, self._quieted = now + 1.0, 0

    def _refuse(self, sock: socket.socket, error: p.RpcError, request_id: p.JsonId = None) -> None:
        """Answer `error` and hang up, on a short-lived thread; a flood of refusals is just closed."""
        self._warn(f"connection refused: {error.message}")
        with self._lock:
            if self._refusing >= self.limits.max_refusing:
                busy = True
            else:
                busy = False
                self._refusing += 1
        if busy:
            close_quietly(sock, error, request_id)
            return

        def run() -> None:
            try:
                refuse(sock, error, request_id=request_id)
            finally:
                with self._lock:
                    self._refusing -= 1

        threading.Thread(target=run, name="rpc-refuse", daemon=True).start()

    def _forget(self, conn: Connection) -> None:
        with self._lock:
            self._conns.discard(conn)

    # -- events -------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        with self._lock:
            conns = list(self._conns)
        data = event.to_json()
        for conn in conns:
            conn.push_event(event.KIND, data)

    # -- dispatch (runs on a connection's reader thread) --------------------------------------
    def dispatch(self, conn: Connection, req: p.Request) -> Any:
        """Run one authenticated request; returns the result or raises RpcError."""
        builtin = getattr(self, f"_rpc_{req.method}", None)
        if req.method in BUILTIN_METHODS and builtin is not None:
            return builtin(conn, **validate_params(_BUILTIN_SCHEMAS[req.method], req.params))
        method = self._methods.get(req.method)
        if method is None:
            raise p.RpcError(
                p.ErrorCode.METHOD_NOT_FOUND, f"unknown method {req.method!r}; call 'version' for the list"
            )
        if self._redact is not None:
            for secret in secret_values(method.schema, req.params):
                self._redact(secret)
        kwargs = validate_params(method.schema, req.params)
        try:
            return method.handler(**kwargs)
        except p.RpcError:
            raise
        except Exception as exc:
            log.exception("RPC method %s failed", req.method)
            raise p.RpcError(
                p.ErrorCode.INTERNAL_ERROR,
                f"{req.method!r} failed with an internal error ({type(exc).__name__}); see the daemon log",
            ) from None

    def check_hello(self, params: dict[str, Any] | list[Any]) -> dict[str, Any]:
        """Validate a hello: the token first, then the version; raises Close on failure."""
        try:
            args = validate_params(_BUILTIN_SCHEMAS["hello"], params)
        except p.RpcError as err:
            raise Close(err) from None
        if not tokens_equal(args["token"], self._token):
            raise Close(p.RpcError(p.ErrorCode.UNAUTHORIZED, "wrong RPC token: read it from the daemon's token file"))
        chosen = p.choose_version(args["versions"])
        if chosen is None:
            raise Close(
                p.RpcError(
                    p.ErrorCode.UNSUPPORTED_PROTOCOL,
                    f"no common protocol version: client speaks {args['versions']}, daemon speaks {list(p.SUPPORTED_VERSIONS)}",
                    {"supported": list(p.SUPPORTED_VERSIONS)},
                )
            )
        return {
            "protocol": chosen,
            "server": f"potminer {__version__}",
            "methods": self.method_names(),
            "events": sorted(p.EVENT_KINDS),
        }

    def _rpc_version(self, conn: Connection) -> dict[str, Any]:
        return {
            "app": __version__,
            "protocol": conn.protocol,
            "supported": list(p.SUPPORTED_VERSIONS),
            "methods": self.method_names(),
            "events": sorted(p.EVENT_KINDS),
        }

    def _rpc_ping(self, conn: Connection) -> str:
        return "pong"

    def _rpc_subscribe(self, conn: Connection, kinds: list[str]) -> dict[str, Any]:
        return {"subscribed": conn.set_kinds(conn.kinds | set(kinds))}

    def _rpc_unsubscribe(self, conn: Connection, kinds: list[str] | None) -> dict[str, Any]:
        return {"subscribed": conn.set_kinds(set() if kinds is None else conn.kinds - set(kinds))}

    def _rpc_hello(self, conn: Connection, **_: Any) -> None:
        raise p.RpcError(p.ErrorCode.INVALID_REQUEST, "already authenticated: hello is only sent once")


_KINDS = frozenset(p.EVENT_KINDS)
_BUILTIN_SCHEMAS: dict[str, Schema] = {
    "hello": {
        "token": Param(str, max_length=256),
        "versions": Param(list, default=[p.PROTOCOL_VERSION], items=int, max_length=32),
        "client": Param(str, default="", max_length=200),
    },
    "version": {},
    "ping": {},
    "subscribe": {"kinds": Param(list, items=str, choices=_KINDS, max_length=32)},
    "unsubscribe": {"kinds": Param(list, default=None, items=str, choices=_KINDS, max_length=32)},
}
