"""Frames of the request/response protocols: a 4-byte big-endian length, then canonical CBOR.

The length is checked against the protocol's hard limit *before* any body byte is read, so an
oversized frame costs the reader four bytes; the body must be the one canonical encoding
(app.core.encoding.decode re-encodes and compares), so a frame has exactly one meaning.
"""

from __future__ import annotations

from typing import Protocol

from app.core.encoding import Plain, decode
from app.core.errors import EncodingError
from app.net.errors import FrameError, FrameTooLarge
from app.net.limits import FRAME_LENGTH_BYTES


class ByteStream(Protocol):
    """The part of a libp2p stream that framing needs."""

    async def read(self, n: int | None = None) -> bytes: ...

    async def write(self, data: bytes) -> None: ...


def pack_frame(body: bytes, max_size: int) -> bytes:
    """Prefix `body` with its length; refuse to build a frame the peer would reject."""
    if len(body) > max_size:
        raise FrameTooLarge(f"frame of {len(body)} bytes exceeds the limit of {max_size}")
    return len(body).to_bytes(FRAME_LENGTH_BYTES, "big") + body


async def write_frame(stream: ByteStream, body: bytes, max_size: int) -> None:
    await stream.write(pack_frame(body, max_size))


async def read_exact(stream: ByteStream, n: int) -> bytes:
    """Read exactly `n` bytes or raise `FrameError` if the stream ends first."""
    parts: list[bytes] = []
    missing = n
    while missing > 0:
        chunk = await stream.read(missing)
        if not chunk:
            raise FrameError(f"stream ended {missing} bytes short of a {n}-byte frame")
        parts.append(chunk)
        missing -= len(chunk)
    return b"".join(parts)


async def read_frame_bytes(stream: ByteStream, max_size: int) -> bytes:
    """Read one frame's body, checking the declared length against `max_size` first."""
    header = await read_exact(stream, FRAME_LENGTH_BYTES)
    length = int.from_bytes(header, "big")
    if length > max_size:
        raise FrameTooLarge(f"declared frame of {length} bytes exceeds the limit of {max_size}")
    if length == 0:
        raise FrameError("empty frame")
    return await read_exact(stream, length)


async def read_frame(stream: ByteStream, max_size: int) -> Plain:
    """Read one frame and decode it as canonical CBOR."""
    body = await read_frame_bytes(stream, max_size)
    try:
        return decode(body, max_size=max_size)
    except EncodingError as exc:
        raise FrameError(f"frame is not canonical CBOR: {exc}") from None
