"""Canonical CBOR of plain values: round trips, one byte string per value, every other form refused."""

from __future__ import annotations

import struct

import pytest
from hypothesis import assume, given, settings, strategies as st

from app.core.encoding import INT64_MIN, MAX_DEPTH, UINT64_MAX, decode, encode
from app.core.errors import EncodingError, SizeLimitExceeded

ints = st.integers(min_value=INT64_MIN, max_value=UINT64_MAX)
scalars = st.none() | st.booleans() | ints | st.binary(max_size=40) | st.text(max_size=20)
plain = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=25,
)
WIDTHS = {1: 24, 2: 25, 4: 26, 8: 27}


def head(major: int, n: int, width: int | None = None) -> bytes:
    """A CBOR item head; `width` forces a byte width (0 = inline) instead of the shortest."""
    if width is None:
        width = 0 if n < 24 else 1 if n < 2**8 else 2 if n < 2**16 else 4 if n < 2**32 else 8
    if width == 0:
        return bytes([major << 5 | n])
    return bytes([major << 5 | WIDTHS[width]]) + n.to_bytes(width, "big")


def shortest_width(n: int) -> int:
    return 0 if n < 24 else 1 if n < 2**8 else 2 if n < 2**16 else 4 if n < 2**32 else 8


def rejects(data: bytes) -> None:
    with pytest.raises(EncodingError):
        decode(data)


# --------------------------------------------------------------------------- round trips


@given(plain)
def test_round_trip(value: object) -> None:
    assert decode(encode(value)) == value  # type: ignore[arg-type]


@given(plain)
def test_encoding_is_deterministic_and_fixed_by_the_value(value: object) -> None:
    data = encode(value)  # type: ignore[arg-type]
    assert encode(decode(data)) == data


@given(st.dictionaries(st.text(max_size=6), ints, min_size=2, max_size=6))
def test_map_insertion_order_does_not_matter(d: dict[str, int]) -> None:
    assert encode(dict(reversed(list(d.items())))) == encode(d)


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_any_accepted_bytes_are_the_encoding_of_what_they_decode_to(data: bytes) -> None:
    """The uniqueness property, from the decoder's side: no other byte string is accepted."""
    try:
        value = decode(data)
    except EncodingError:
        return
    assert encode(value) == data


def test_bool_and_int_are_distinct() -> None:
    assert encode(True) != encode(1) and decode(encode(True)) is True
    assert encode(False) != encode(0) and decode(encode(0)) == 0


@pytest.mark.parametrize("n", [0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, UINT64_MAX])
def test_integer_boundaries_use_the_shortest_form(n: int) -> None:
    assert encode(n) == head(0, n)
    assert encode(-1 - min(n, 2**63 - 1)) == head(1, min(n, 2**63 - 1))


# --------------------------------------------------------------------------- non-canonical forms


# the largest integer whose shortest head is narrower than `width` extra bytes (drawn directly: filtering
# uniform 64-bit integers threw most draws away and tripped Hypothesis's health check)
NARROWER = {1: 23, 2: 0xFF, 4: 0xFFFF, 8: 0xFFFFFFFF}


@given(st.sampled_from(sorted(NARROWER)), st.data(), st.sampled_from([0, 1]))
def test_non_shortest_integers_are_refused(width: int, data: st.DataObject, major: int) -> None:
    n = data.draw(st.integers(min_value=0, max_value=NARROWER[width]))
    assert width > shortest_width(n)
    rejects(head(major, n, width))


@given(st.binary(max_size=300), st.sampled_from([1, 2, 4, 8]), st.sampled_from([2, 3, 4, 5]))
def test_non_shortest_lengths_are_refused(payload: bytes, width: int, major: int) -> None:
    n = len(payload)
    assume(width > shortest_width(n))
    if major == 2:
        body = payload
    elif major == 3:
        body = b"a" * n
    elif major == 4:
        body = b"\x00" * n
    else:
        n = min(n, 20)
        body = b"".join(encode(f"{i:02d}") + b"\x00" for i in range(n))
    rejects(head(major, n, width) + body)
    assert decode(head(major, n) + body) is not None  # the shortest form of the same item is fine


@pytest.mark.parametrize(
    "data",
    [
        "5f41614162ff",  # indefinite bytes
        "7f61616162ff",  # indefinite text
        "9f0102ff",  # indefinite array
        "bf616101ff",  # indefinite map
        "9fff",  # empty indefinite array
        "ff",  # a lone break
    ],
)
def test_indefinite_lengths_are_refused(data: str) -> None:
    rejects(bytes.fromhex(data))


@given(st.lists(st.text(max_size=6), min_size=2, max_size=6, unique=True))
def test_unsorted_map_keys_are_refused(keys: list[str]) -> None:
    canonical = sorted(keys, key=lambda k: encode(k))
    assume(keys != canonical)
    data = head(5, len(keys)) + b"".join(encode(k) + encode(0) for k in keys)
    rejects(data)


@given(st.text(max_size=6), st.integers(0, 5), st.integers(0, 5))
def test_duplicate_map_keys_are_refused(key: str, a: int, b: int) -> None:
    rejects(head(5, 2) + encode(key) + encode(a) + encode(key) + encode(b))


@pytest.mark.parametrize("key", ["01", "20", "40", "80", "a0", "f4", "f6"])
def test_non_text_map_keys_are_refused(key: str) -> None:
    rejects(bytes.fromhex("a1" + key + "00"))
    with pytest.raises(EncodingError):
        encode({1: 0})  # type: ignore[dict-item]


@given(st.floats(allow_nan=True), st.sampled_from(["e", "f", "d"]))
def test_floats_are_refused_at_every_width(x: float, fmt: str) -> None:
    prefix = {"e": b"\xf9", "f": b"\xfa", "d": b"\xfb"}[fmt]
    try:
        packed = struct.pack(">" + fmt, x)
    except OverflowError:
        return
    rejects(prefix + packed)
    rejects(head(4, 1) + prefix + packed)
    with pytest.raises(EncodingError):
        encode(x)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=2**32), plain)
def test_tags_are_refused(tag: int, value: object) -> None:
    rejects(head(6, tag) + encode(value))  # type: ignore[arg-type]


@pytest.mark.parametrize("data", ["f7", "f0", "f820", "f8ff", "fc", "1c", "3f"])
def test_undefined_simple_values_and_reserved_heads_are_refused(data: str) -> None:
    rejects(bytes.fromhex(data))


@given(plain, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(value: object, extra: bytes) -> None:
    rejects(encode(value) + extra)  # type: ignore[arg-type]


@given(plain)
def test_every_truncation_is_refused(value: object) -> None:
    data = encode(value)  # type: ignore[arg-type]
    for cut in range(len(data)):
        rejects(data[:cut])


def test_invalid_utf8_is_refused() -> None:
    rejects(bytes.fromhex("62c328"))
    rejects(bytes.fromhex("61ff"))


# --------------------------------------------------------------------------- limits and types


@pytest.mark.parametrize("n", [UINT64_MAX + 1, INT64_MIN - 1, -(2**64)])
def test_integers_outside_64_bits_are_refused(n: int) -> None:
    with pytest.raises(EncodingError):
        encode(n)


def test_negative_integers_below_int64_are_refused_on_decode() -> None:
    rejects(head(1, 2**63))  # -2**63 - 1
    assert decode(head(1, 2**63 - 1)) == INT64_MIN


def test_bignum_tags_are_refused() -> None:
    rejects(bytes.fromhex("c249010000000000000000"))  # 2**64 as a bignum
    rejects(bytes.fromhex("c24101"))  # 1 as a (non-canonical) bignum


def test_nesting_limit() -> None:
    value: object = 0
    for _ in range(MAX_DEPTH):
        value = [value]
    assert decode(encode(value)) == value  # type: ignore[arg-type]
    with pytest.raises(EncodingError):
        encode([value])  # type: ignore[list-item]
    rejects(b"\x81" * (MAX_DEPTH + 1) + b"\x00")


def test_size_limit() -> None:
    data = encode(b"x" * 100)
    assert decode(data, max_size=len(data)) == b"x" * 100
    with pytest.raises(SizeLimitExceeded):
        decode(data, max_size=len(data) - 1)


@pytest.mark.parametrize("bad", [None, "text", 5, [1]])
def test_non_bytes_input_is_refused(bad: object) -> None:
    with pytest.raises(EncodingError):
        decode(bad)  # type: ignore[arg-type]


def test_empty_input_is_refused() -> None:
    rejects(b"")


@pytest.mark.parametrize("bad", [1.5, {1, 2}, object(), {b"k": 1}, (1.0,)])
def test_values_without_a_canonical_encoding_are_refused(bad: object) -> None:
    with pytest.raises(EncodingError):
        encode(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- hostile input (issue 17 row 4)


def test_a_huge_bignum_is_an_encoding_error_not_a_value_error() -> None:
    # 1.8 KB of bignum: its decimal form passes Python's 4,300-digit int-to-str limit.
    rejects(bytes.fromhex("c2") + head(2, 1800) + b"\xff" * 1800)
    rejects(bytes.fromhex("c3") + head(2, 4000) + b"\x01" * 4000)


@pytest.mark.parametrize(
    "data",
    [
        "d81c81d81d00",  # shareable [ sharedref(0) ]: a list that contains itself
        "d81ca1616ad81d00",  # shareable {"j": sharedref(0)}: a map that contains itself
        "d81d00",  # a reference to nothing
    ],
)
def test_self_referencing_values_are_refused(data: str) -> None:
    rejects(bytes.fromhex(data))


def test_shared_references_cannot_multiply_work() -> None:
    # Each level shares the previous one twice: 40 levels would be 2**40 items once expanded.
    data = bytes.fromhex("d81c80")
    for i in range(40):
        data = bytes.fromhex("d81c82") + data + bytes.fromhex("d81d") + head(0, i)
    rejects(data)


def test_nesting_far_past_the_limit_is_an_encoding_error() -> None:
    rejects(b"\x81" * 100_000 + b"\x00")
    rejects(b"\xa1\x61k" * 50_000 + b"\x00")


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_fail_only_with_encoding_error(data: bytes) -> None:
    try:
        value = decode(data)
    except EncodingError:
        return
    assert encode(value) == data  # whatever is accepted is the one canonical form


@settings(max_examples=300)
@given(plain, st.integers(0, 200), st.binary(min_size=1, max_size=4))
def test_mutated_valid_encodings_fail_only_with_encoding_error(value: object, at: int, junk: bytes) -> None:
    data = bytearray(encode(value))
    i = at % len(data)
    data[i : i + len(junk)] = junk
    try:
        got = decode(bytes(data))
    except EncodingError:
        return
    assert encode(got) == bytes(data)
