"""Newline framing: whole lines out of arbitrary chunks, oversized lines refused."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from app.rpc.framing import FrameTooLarge, LineSplitter


def test_lines_across_chunks_and_keepalives() -> None:
    s = LineSplitter(100)
    assert s.feed(b'{"a"') == []
    assert s.feed(b':1}\n\n{"b":2}\r\n{"c"') == [b'{"a":1}', b'{"b":2}']
    assert s.pending == 4
    assert s.feed(b":3}\n") == [b'{"c":3}']


def test_line_over_limit_is_refused_even_without_newline() -> None:
    with pytest.raises(FrameTooLarge, match="10 bytes"):
        LineSplitter(10).feed(b"x" * 11)
    with pytest.raises(FrameTooLarge):
        LineSplitter(10).feed(b"x" * 11 + b"\n")
    assert LineSplitter(10).feed(b"x" * 10 + b"\n") == [b"x" * 10]


@given(
    st.lists(st.binary(min_size=1, max_size=30).filter(lambda b: b"\n" not in b and b.strip()), max_size=10), st.data()
)
def test_any_chunking_gives_the_same_lines(lines: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    splitter = LineSplitter(64)
    out: list[bytes] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        out += splitter.feed(stream[prev:cut])
        prev = cut
    assert out == [line.rstrip(b"\r") for line in lines]
