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
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import selectors
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from app import __version__
from app.daemon.events import Event, EventBus, Subscription
from app.rpc import protocol as p
from app.rpc.auth import tokens_equal
from app.rpc.endpoint import Endpoint
from app.rpc.framing import FrameTooLarge, LineSplitter
from app.rpc.schema import Param, Schema, secret_values, validate_params

log = logging.getLogger(__name__)

Handler = Callable[..., Any]
_CLOSE = object()  # writer sentinel
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


class _Close(Exception):
    """Raised inside a connection to send one last error and hang up."""

    def __init__(self, error: p.RpcError, request_id: p.JsonId = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.request_id = request_id


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
        self._conns: set[_Connection] = set()
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
        self._listener, self._bound = _bind(self._requested)
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
            _unlink_socket(Path(self._bound.path))
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
        refusal = _peer_refusal(sock)
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
            _close_quietly(
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
        except _Close as close:
            self._refuse(sock, close.error, req.id)
            return
        with self._lock:
            full = len(self._conns) >= self.limits.max_connections
            if not full:
                conn = _Connection(self, sock, next(self._ids), result["protocol"], rest)
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
            _close_quietly(sock, error, request_id)
            return

        def run() -> None:
            try:
                _refuse(sock, error, request_id=request_id)
            finally:
                with self._lock:
                    self._refusing -= 1

        threading.Thread(target=run, name="rpc-refuse", daemon=True).start()

    def _forget(self, conn: _Connection) -> None:
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
    def dispatch(self, conn: _Connection, req: p.Request) -> Any:
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
        """Validate a hello: the token first, then the version; raises _Close on failure."""
        try:
            args = validate_params(_BUILTIN_SCHEMAS["hello"], params)
        except p.RpcError as err:
            raise _Close(err) from None
        if not tokens_equal(args["token"], self._token):
            raise _Close(p.RpcError(p.ErrorCode.UNAUTHORIZED, "wrong RPC token: read it from the daemon's token file"))
        chosen = p.choose_version(args["versions"])
        if chosen is None:
            raise _Close(
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

    def _rpc_version(self, conn: _Connection) -> dict[str, Any]:
        return {
            "app": __version__,
            "protocol": conn.protocol,
            "supported": list(p.SUPPORTED_VERSIONS),
            "methods": self.method_names(),
            "events": sorted(p.EVENT_KINDS),
        }

    def _rpc_ping(self, conn: _Connection) -> str:
        return "pong"

    def _rpc_subscribe(self, conn: _Connection, kinds: list[str]) -> dict[str, Any]:
        return {"subscribed": conn.set_kinds(conn.kinds | set(kinds))}

    def _rpc_unsubscribe(self, conn: _Connection, kinds: list[str] | None) -> dict[str, Any]:
        return {"subscribed": conn.set_kinds(set() if kinds is None else conn.kinds - set(kinds))}

    def _rpc_hello(self, conn: _Connection, **_: Any) -> None:
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


class _Connection:
    """One client: a reader thread that parses and dispatches, a writer thread that sends."""

    def __init__(self, server: RpcServer, sock: socket.socket, conn_id: int, protocol: int, leftover: bytes) -> None:
        self.server = server
        self.sock = sock
        self.id = conn_id
        self.protocol = protocol  # agreed in hello, which the accept thread checked
        self.kinds: frozenset[str] = frozenset()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=server.limits.send_queue)
        self._leftover = leftover  # what the client sent right after its hello
        self._seq = 0
        self._missed = 0  # events dropped since the client was last told
        self._missed_last_seq = 0
        self._seq_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._close_requested = False
        self._reader = threading.Thread(target=self._read_loop, name=f"rpc-read-{conn_id}", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name=f"rpc-write-{conn_id}", daemon=True)

    def start(self, hello_id: p.JsonId, hello_result: dict[str, Any]) -> None:
        """Answer the hello the accept thread checked, then serve."""
        self.sock.setblocking(True)
        self.offer(p.encode_response(p.Response(id=hello_id, result=hello_result)))
        self._writer.start()
        self._reader.start()

    def flush_and_abort(self, timeout: float) -> None:
        """For server stop: let the writer send what is queued, then hang up without waiting for the client."""
        self._writer.join(timeout)
        self._shutdown_socket()
        self._reader.join(timeout)

    # -- outgoing -----------------------------------------------------------------------------
    def offer(self, data: bytes) -> bool:
        """Queue without waiting; False when the client is too far behind."""
        try:
            self._queue.put_nowait(data)
            return True
        except queue.Full:
            return False

    def _send(self, data: bytes) -> None:
        """Queue, waiting while the client reads slowly (back-pressure on its own requests only)."""
        while self._writer.is_alive():
            try:
                self._queue.put(data, timeout=0.5)
                return
            except queue.Full:
                continue

    def push_event(self, kind: str, data: dict[str, Any]) -> None:
        """Deliver an event if subscribed. A dropped event still uses up a seq, and is counted: the writer
        sends a `missed` notice ahead of everything still queued (see `_missed_notice`)."""
        if kind not in self.kinds:
            return
        with self._seq_lock:
            self._seq += 1
            note = p.Notification(p.NOTIFY_EVENT, {"kind": kind, "seq": self._seq, "data": data})
            if not self.offer(p.encode_notification(note)):
                self._missed += 1
                self._missed_last_seq = self._seq
                log.debug("RPC client %d is behind; dropped %s event %d", self.id, kind, self._seq)

    def _missed_notice(self) -> bytes | None:
        """The `missed` notification for events dropped since the last one, or None."""
        with self._seq_lock:
            if not self._missed:
                return None
            params = {"missed": self._missed, "last_seq": self._missed_last_seq}
            self._missed = 0
        return p.encode_notification(p.Notification(p.NOTIFY_MISSED, params))

    def set_kinds(self, kinds: set[str] | frozenset[str]) -> list[str]:
        self.kinds = frozenset(kinds)
        return sorted(self.kinds)

    def request_close(self) -> None:
        with self._close_lock:
            if self._close_requested:
                return
            self._close_requested = True
        try:
            self._queue.put(_CLOSE, timeout=self.server.limits.close_timeout)
        except queue.Full:
            self._shutdown_socket()

    def _shutdown_socket(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _CLOSE:
                break
            assert isinstance(item, bytes)
            try:
                self.sock.sendall(item)
                # A drop is told as soon as the client reads again: the notice jumps the queue.
                if (notice := self._missed_notice()) is not None:
                    self.sock.sendall(notice)
            except OSError:
                self._shutdown_socket()  # the client is gone: wake the reader
                break
        try:
            self.sock.shutdown(socket.SHUT_WR)  # FIN after the last message; the reader closes the socket
        except OSError:
            pass

    # -- incoming -----------------------------------------------------------------------------
    def _read_loop(self) -> None:
        splitter = LineSplitter(self.server.limits.max_request_bytes)
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        try:
            try:
                early = splitter.feed(self._leftover)
            except FrameTooLarge as exc:
                raise _Close(p.RpcError(p.ErrorCode.MESSAGE_TOO_LARGE, f"request refused: {exc}")) from None
            for line in early:
                self._handle_line(line)
            while True:
                if not sel.select(None):
                    continue
                try:
                    chunk = self.sock.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                try:
                    lines = splitter.feed(chunk)
                except FrameTooLarge as exc:
                    raise _Close(p.RpcError(p.ErrorCode.MESSAGE_TOO_LARGE, f"request refused: {exc}")) from None
                for line in lines:
                    self._handle_line(line)
        except _Close as close:
            log.warning("RPC client %d: %s", self.id, close.error.message)
            self._send(p.encode_response(p.Response(id=close.request_id, error=close.error)))
            self.request_close()
            self._writer.join(self.server.limits.close_timeout)
            self._linger(sel)
        except Exception:
            log.exception("RPC connection %d crashed", self.id)
        finally:
            sel.close()
            self.request_close()
            self._writer.join(self.server.limits.close_timeout)
            self.sock.close()
            self.server._forget(self)
            log.debug("RPC client %d disconnected", self.id)

    def _linger(self, sel: selectors.BaseSelector) -> None:
        """Discard what the client still sends until it hangs up (or briefly), so that closing does not
        reset the connection (TCP RST) and destroy the error we just sent before the client reads it."""
        deadline = time.monotonic() + self.server.limits.close_timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not sel.select(remaining):
                return
            try:
                if not self.sock.recv(65536):
                    return
            except OSError:
                return

    def _handle_line(self, line: bytes) -> None:
        try:
            req = p.decode_request(line)
        except p.ProtocolError as exc:
            self._reply(exc.request_id, error=exc.as_rpc_error())
            return
        try:
            result = self.server.dispatch(self, req)
        except p.RpcError as err:
            if not req.is_notification:
                self._reply(req.id, error=err)
            return
        if not req.is_notification:
            self._reply(req.id, result=result, method=req.method)

    def _reply(self, req_id: p.JsonId, result: Any = None, error: p.RpcError | None = None, method: str = "") -> None:
        try:
            data = p.encode_response(p.Response(id=req_id, result=result, error=error))
        except (TypeError, ValueError) as exc:
            log.error("RPC method %s returned a result that is not JSON: %s", method, exc)
            data = p.encode_response(
                p.Response(
                    id=req_id,
                    error=p.RpcError(
                        p.ErrorCode.INTERNAL_ERROR, f"{method!r} produced a result that cannot be sent as JSON"
                    ),
                )
            )
        if len(data) > p.MAX_RESPONSE_BYTES:
            log.error("RPC method %s returned %d bytes, over the limit", method, len(data))
            data = p.encode_response(
                p.Response(
                    id=req_id,
                    error=p.RpcError(
                        p.ErrorCode.INTERNAL_ERROR,
                        f"{method!r} produced a result larger than {p.MAX_RESPONSE_BYTES} bytes",
                    ),
                )
            )
        self._send(data)


# -- sockets ------------------------------------------------------------------------------------
def _bind(endpoint: Endpoint) -> tuple[socket.socket, Endpoint]:
    if endpoint.transport == "tcp":
        family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if os.name == "nt":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)  # type: ignore[attr-defined]
            sock.bind((endpoint.host, endpoint.port))
        except BaseException:
            sock.close()
            raise
        return sock, Endpoint.tcp(endpoint.host, sock.getsockname()[1])
    path = Path(endpoint.path)
    _prepare_socket_dir(path.parent)
    _unlink_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket file is born 0600 (umask is process-wide but this is brief)
    try:
        sock.bind(str(path))
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    return sock, endpoint


def _prepare_socket_dir(directory: Path) -> None:
    """Make sure the socket's folder exists and is ours (matters for the shared temp folder fallback)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = directory.stat()
    if os.name != "posix":
        return
    if st.st_uid != os.getuid():
        raise PermissionError(f"refusing to put the RPC socket in {directory}: it belongs to another user")
    in_shared_temp = directory.resolve().parent == Path(tempfile.gettempdir()).resolve()
    if in_shared_temp and st.st_mode & 0o077:
        raise PermissionError(f"refusing to put the RPC socket in {directory}: others can access it (chmod 700)")


def _unlink_socket(path: Path) -> None:
    """Remove a socket file left by a dead daemon; never remove anything that is not a socket."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(f"{path} exists and is not a socket; move it away")
    path.unlink(missing_ok=True)


def _refuse(sock: socket.socket, error: p.RpcError, linger: float = 1.0, request_id: p.JsonId = None) -> None:
    """Send the refusal, then drain briefly before closing so a TCP reset cannot swallow it."""
    sock.settimeout(linger)
    try:
        sock.sendall(p.encode_response(p.Response(id=request_id, error=error)))
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + linger
        while time.monotonic() < deadline and sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


def _close_quietly(sock: socket.socket, error: p.RpcError, request_id: p.JsonId = None) -> None:
    """Try to say why without waiting (the socket may be full or gone), then close."""
    try:
        sock.setblocking(False)
        sock.send(p.encode_response(p.Response(id=request_id, error=error)))
    except OSError:
        pass
    sock.close()


def _peer_refusal(sock: socket.socket) -> p.RpcError | None:
    """On Linux, refuse Unix-socket peers running as another user (the token is the check elsewhere)."""
    if sock.family != getattr(socket, "AF_UNIX", None) or not sys.platform.startswith("linux"):
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    if uid != os.getuid():
        return p.RpcError(p.ErrorCode.UNAUTHORIZED, f"connections from user id {uid} are refused")
    return None
