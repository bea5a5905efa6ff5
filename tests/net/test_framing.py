"""Length-prefixed canonical CBOR frames: limits checked before reading, one encoding per value."""

from __future__ import annotations

import cbor2
import pytest
import trio
from hypothesis import given, strategies as st

from app.core.encoding import encode
from app.net.errors import FrameError, FrameTooLarge
from app.net.framing import pack_frame, read_frame


class BufferStream:
    """An in-memory byte stream that returns at most `step` bytes per read, like a socket."""

    def __init__(self, data: bytes, step: int = 3) -> None:
        self.data = data
        self.step = step
        self.reads = 0

    async def read(self, n: int | None = None) -> bytes:
        self.reads += 1
        take = min(n or self.step, self.step)
        out, self.data = self.data[:take], self.data[take:]
        return out

    async def write(self, data: bytes) -> None:
        self.data += data


def read(data: bytes, max_size: int = 1024):  # type: ignore[no-untyped-def]
    return trio.run(read_frame, BufferStream(data), max_size)


plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=20) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)


@given(plain)
def test_round_trip(value) -> None:  # type: ignore[no-untyped-def]
    assert read(pack_frame(encode(value), 4096), 4096) == value


def test_declared_oversize_is_refused_before_the_body_is_read() -> None:
    stream = BufferStream((10_000).to_bytes(4, "big") + b"x" * 10_000, step=4)
    with pytest.raises(FrameTooLarge):
        trio.run(read_frame, stream, 1024)
    assert stream.reads == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",  # nothing at all
        b"\x00\x00",  # truncated length
        (5).to_bytes(4, "big") + b"\x01",  # truncated body
        (0).to_bytes(4, "big"),  # empty frame
        pack_frame(b"\xff\xff", 100),  # not CBOR
        pack_frame(cbor2.dumps({"b": 1, "a": 2}), 100),  # keys not in canonical order
        pack_frame(cbor2.dumps(1.5), 100),  # floats are not part of the protocol
        pack_frame(encode(1) + b"\x00", 100),  # trailing bytes
    ],
)
def test_malformed_frames_are_frame_errors(data: bytes) -> None:
    with pytest.raises(FrameError):
        read(data)


def test_pack_refuses_oversize() -> None:
    with pytest.raises(FrameTooLarge):
        pack_frame(b"x" * 11, 10)
