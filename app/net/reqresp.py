"""Generic request/response over libp2p streams: one request frame, one response frame per stream.

Both sides bound everything: the request and response frame sizes (before reading a body), the time
for the whole exchange, and the number of inbound streams served at once. A peer that sends a bad or
oversized frame has its stream reset and is reported to the peer table; so is a peer whose response
does not parse or does not answer the question asked.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from app.core.encoding import Record
from app.core.errors import EncodingError, SizeLimitExceeded
from app.net import limits
from app.net.errors import FrameError, FrameTooLarge, PeerBanned, RemoteError, RequestFailed, UnexpectedMessage
from app.net.framing import read_frame, write_frame
from app.net.messages import ERR_BUSY, ERR_INTERNAL, ErrorResponse, Request, Response
from app.net.peers import Offence

log = logging.getLogger(__name__)

Req = TypeVar("Req", bound=Request)
Resp = TypeVar("Resp", bound=Response)
# Report an offence; the callee decides whether it bans (and then disconnects) the peer.
ReportFn = Callable[[str, Offence], None]
IsBannedFn = Callable[[str], bool]
Handler = Callable[[str, Any], Awaitable[Response]]


async def maybe_await(value: Any) -> Any:
    """Providers may be plain functions or coroutines; accept both."""
    if inspect.isawaitable(value):
        return await value
    return value


def parse_record(plain: Any, allowed: tuple[type[Record], ...]) -> Record:
    """Pick the record type from the tag of a decoded frame; `UnexpectedMessage` if not allowed."""
    if not isinstance(plain, list) or not plain or isinstance(plain[0], bool):
        raise UnexpectedMessage("frame is not a record")
    for cls in allowed:
        if cls.TAG == plain[0]:
            try:
                return cls.from_plain(plain)
            except EncodingError as exc:
                raise FrameError(f"invalid {cls.__name__}: {exc}") from None
    raise UnexpectedMessage(f"record tag {plain[0]!r} is not allowed here")


def offence_for(exc: Exception) -> Offence:
    return Offence.OVERSIZED if isinstance(exc, (FrameTooLarge, SizeLimitExceeded)) else Offence.BAD_FRAME


class RequestServer:
    """Serves registered protocols: validates the request frame, calls the handler, frames the answer.

    Work a peer can cause is bounded per peer: at most `per_peer` of its streams are open at once
    (more are answered `busy`), each must deliver its request frame within `first_frame_s` (a stream
    that stalls is reset and costs the peer `Offence.STALLED_STREAM`), and only a request that arrived
    takes one of the `max_concurrent` handler slots shared by all peers. So a peer that opens many
    silent streams holds a few of its own slots for a second or two and is banned; it never holds
    the slots an honest peer needs.
    """

    def __init__(
        self,
        host: IHost,
        report: ReportFn,
        is_banned: IsBannedFn,
        timeout_s: float = limits.REQUEST_TIMEOUT_S,
        max_concurrent: int = limits.MAX_CONCURRENT_INBOUND_STREAMS,
        per_peer: int = limits.MAX_STREAMS_PER_PEER,
        first_frame_s: float = limits.FIRST_FRAME_TIMEOUT_S,
    ) -> None:
        self._host = host
        self._report = report
        self._is_banned = is_banned
        self._timeout_s = timeout_s
        self._slots = trio.Semaphore(max_concurrent)
        self._per_peer = per_peer
        self._first_frame_s = first_frame_s
        self._open: dict[str, int] = {}  # peer -> its streams being served now (entries removed at zero)

    def open_streams(self, peer: str) -> int:
        """How many of `peer`'s streams are being served now."""
        return self._open.get(peer, 0)

    def register(self, protocol: str, request_type: type[Request], handler: Handler) -> None:
        async def on_stream(stream: INetStream) -> None:
            await self._serve(stream, request_type, handler)

        self._host.set_stream_handler(TProtocol(protocol), on_stream)

    async def _serve(self, stream: INetStream, request_type: type[Request], handler: Handler) -> None:
        peer = str(stream.muxed_conn.peer_id)
        if self._is_banned(peer):
            await _reset(stream)
            return
        if self._open.get(peer, 0) >= self._per_peer:
            await _refuse(stream, "too many concurrent requests from this peer")
            return
        self._open[peer] = self._open.get(peer, 0) + 1
        try:
            await self._serve_admitted(stream, peer, request_type, handler)
        except Exception as exc:  # the stream broke under us: nothing to answer
            log.debug("stream from %s failed: %s", peer, exc)
            await _reset(stream)
        finally:
            left = self._open.get(peer, 1) - 1
            if left > 0:
                self._open[peer] = left
            else:
                self._open.pop(peer, None)

    async def _serve_admitted(
        self, stream: INetStream, peer: str, request_type: type[Request], handler: Handler
    ) -> None:
        request: Request | None = None
        with trio.move_on_after(min(self._first_frame_s, self._timeout_s)):
            try:
                plain = await read_frame(stream, limits.MAX_REQUEST_FRAME)
                request = parse_record(plain, (request_type,))
            except (FrameError, EncodingError) as exc:
                log.info("bad request frame from %s: %s", peer, exc)
                self._report(peer, offence_for(exc))
                await _reset(stream)
                return
        if request is None:
            log.info("peer %s opened a stream and sent no request in %.1f s", peer, self._first_frame_s)
            self._report(peer, Offence.STALLED_STREAM)
            await _reset(stream)
            return
        try:
            self._slots.acquire_nowait()
        except trio.WouldBlock:
            await _refuse(stream, "too many concurrent requests")
            return
        try:
            with trio.move_on_after(self._timeout_s) as scope:
                try:
                    response = await handler(peer, request)
                except Exception:  # a bug or a provider failure here must not kill the host
                    log.exception("handler for %s failed", request_type.__name__)
                    response = ErrorResponse(code=ERR_INTERNAL, message="the request could not be served")
                await _answer(stream, response)
            if scope.cancelled_caught:
                self._report(peer, Offence.TIMEOUT)
                await _reset(stream)
        finally:
            self._slots.release()


class RequestClient:
    """Opens a stream per request, sends one frame and reads one answer, within a deadline."""

    def __init__(
        self, host: IHost, report: ReportFn, is_banned: IsBannedFn, timeout_s: float = limits.REQUEST_TIMEOUT_S
    ) -> None:
        self._host = host
        self._report = report
        self._is_banned = is_banned
        self.timeout_s = timeout_s

    async def call(
        self, peer: str, protocol: str, request: Request, response_type: type[Resp], timeout_s: float | None = None
    ) -> Resp:
        """Send `request`; return the answer, or raise `RemoteError` / `RequestFailed` / `FrameError`."""
        if self._is_banned(peer):
            raise PeerBanned(f"peer {peer} is banned")
        body = request.encode()
        stream: INetStream | None = None
        with trio.move_on_after(self.timeout_s if timeout_s is None else timeout_s):
            try:
                stream = await self._host.new_stream(ID.from_base58(peer), [TProtocol(protocol)])
                await write_frame(stream, body, limits.MAX_REQUEST_FRAME)
                await stream.close_write()
                plain = await read_frame(stream, limits.MAX_RESPONSE_FRAME)
            except (FrameError, EncodingError) as exc:
                self._report(peer, offence_for(exc))
                if stream is not None:
                    await _reset(stream)
                raise FrameError(f"bad response from {peer}: {exc}") from None
            except (PeerBanned, trio.Cancelled):
                raise
            except Exception as exc:
                if stream is not None:
                    await _reset(stream)
                raise RequestFailed(f"{protocol} to {peer} failed: {exc}") from None
            await _close(stream)
            try:
                answer = parse_record(plain, (response_type, ErrorResponse))
            except (FrameError, EncodingError) as exc:
                self._report(peer, Offence.BAD_RESPONSE)
                raise FrameError(f"bad response from {peer}: {exc}") from None
            if isinstance(answer, ErrorResponse):
                raise RemoteError(answer.code, answer.message)
            return answer  # type: ignore[return-value]
        if stream is not None:
            await _reset(stream)
        self._report(peer, Offence.TIMEOUT)
        raise RequestFailed(f"{protocol} to {peer} timed out")


async def _answer(stream: INetStream, response: Response) -> None:
    try:
        await write_frame(stream, response.encode(), limits.MAX_RESPONSE_FRAME)
    except (FrameError, EncodingError):
        log.exception("response %s exceeds the frame limit", type(response).__name__)
        fallback = ErrorResponse(code=ERR_INTERNAL, message="response too large")
        await write_frame(stream, fallback.encode(), limits.MAX_RESPONSE_FRAME)
    await _close(stream)


async def _refuse(stream: INetStream, why: str) -> None:
    """Answer `busy` (best effort: a peer that does not read gets its stream reset)."""
    with trio.move_on_after(limits.FIRST_FRAME_TIMEOUT_S) as scope:
        try:
            await _answer(stream, ErrorResponse(code=ERR_BUSY, message=why))
        except Exception:
            scope.cancel()
    if scope.cancelled_caught:
        await _reset(stream)


async def _close(stream: INetStream | None) -> None:
    if stream is None:
        return
    try:
        await stream.close()
    except Exception:
        pass


async def _reset(stream: INetStream) -> None:
    try:
        await stream.reset()
    except Exception:
        pass
