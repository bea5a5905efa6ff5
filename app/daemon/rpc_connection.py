"""One authenticated RPC connection: its reader and writer threads, and event delivery to it.

The accept thread of `RpcServer` (app/daemon/rpc_server.py) checks a connection's hello and only
then makes a `Connection`, which takes one of the server's slots. The reader parses requests and runs
them in order through `RpcServer.dispatch`; the writer owns every send, so an event pushed from the
bus never interleaves with a response. Events are delivered only for the kinds the client subscribed
to, each with a sequence number; when the client reads too slowly for its queue, events are dropped,
counted, and told in a `missed` notice that jumps the queue.
"""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from app.rpc import protocol as p
from app.rpc.framing import FrameTooLarge, LineSplitter

if TYPE_CHECKING:
    from app.daemon.rpc_server import RpcServer

log = logging.getLogger("app.daemon.rpc_server")  # the RPC server's log lines keep one logger name

_CLOSE = object()  # writer sentinel


class Close(Exception):
    """Raised inside a connection to send one last error and hang up."""

    def __init__(self, error: p.RpcError, request_id: p.JsonId = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.request_id = request_id


class Connection:
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
                raise Close(p.RpcError(p.ErrorCode.MESSAGE_TOO_LARGE, f"request refused: {exc}")) from None
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
                    raise Close(p.RpcError(p.ErrorCode.MESSAGE_TOO_LARGE, f"request refused: {exc}")) from None
                for line in lines:
                    self._handle_line(line)
        except Close as close:
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
