"""Every wire record: round trips, and a wrong tag, arity, field type, length or range is refused.

The strategies are derived from the records' own annotations, so a record added to the protocol is
covered without touching this file.
"""

from __future__ import annotations

import dataclasses
import types as pytypes
import typing
from typing import Any, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given, settings, strategies as st

from app.core import crypto, merkle, types as wire
from app.core.encoding import UINT64_MAX, Len, MaxLen, Range, Record, encode
from app.core.errors import EncodingError, SizeLimitExceeded


def _records() -> list[type[Record]]:
    found: list[type[Record]] = []
    todo = list(Record.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if dataclasses.is_dataclass(cls) and cls.TAG >= 0 and cls.__module__ in (wire.__name__, merkle.__name__):
            found.append(cls)
    return sorted(found, key=lambda c: c.TAG)


RECORDS = _records()


def _fields(cls: type) -> list[tuple[str, Any]]:
    hints = get_type_hints(cls, include_extras=True)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


def _split(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    if get_origin(hint) is typing.Annotated:
        base, *constraints = get_args(hint)
        return base, tuple(constraints)
    return hint, ()


def strategy_for(hint: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of a schema type, small enough that nested blocks stay fast."""
    base, constraints = _split(hint)
    exact = next((c.n for c in constraints if isinstance(c, Len)), None)
    most = next((c.n for c in constraints if isinstance(c, MaxLen)), None)
    bounds = next(((c.lo, c.hi) for c in constraints if isinstance(c, Range)), (0, UINT64_MAX))
    if isinstance(base, type) and issubclass(base, Record):
        return st.builds(base, **{name: strategy_for(h, depth + 1) for name, h in _fields(base)})
    origin = get_origin(base)
    if origin is tuple:
        args = get_args(base)
        if len(args) == 2 and args[1] is Ellipsis:
            cap = min(most if most is not None else 3, 2 if depth < 2 else 1)
            return st.lists(strategy_for(args[0], depth + 1), max_size=cap).map(tuple)
        return st.tuples(*(strategy_for(a, depth + 1) for a in args))
    if origin in (typing.Union, pytypes.UnionType):
        return st.one_of(*(st.none() if a is type(None) else strategy_for(a, depth) for a in get_args(base)))
    if base is bool:
        return st.booleans()
    if base is int:
        return st.integers(*bounds)
    if base is bytes:
        if exact is not None:
            return st.binary(min_size=exact, max_size=exact)
        return st.binary(max_size=min(most or 64, 64))
    if base is str:
        if exact is not None:
            return st.text(min_size=exact, max_size=exact)
        return st.text(max_size=min(most or 32, 32))
    raise AssertionError(f"no strategy for {hint!r}")


def test_tags_are_unique() -> None:
    tags = [cls.TAG for cls in RECORDS]
    assert len(tags) == len(set(tags)), tags
    assert {wire.Transfer, wire.Block, wire.QuorumCert, merkle.MerkleProof} <= set(RECORDS)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_round_trip_and_canonical(cls: type[Record], data: st.DataObject) -> None:
    record = data.draw(strategy_for(cls))
    encoded = record.encode()
    decoded = cls.decode(encoded)
    assert decoded == record
    assert decoded.encode() == encoded
    assert encode(record.to_plain()) == encoded


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_wrong_tag_and_arity_are_refused(cls: type[Record], data: st.DataObject) -> None:
    plain = data.draw(strategy_for(cls)).to_plain()
    for tag in [c.TAG for c in RECORDS if c is not cls] + [-1, 999, True, "x", None]:
        with pytest.raises(EncodingError):
            cls.from_plain([tag, *plain[1:]])
    for bad in (plain[:-1], plain + [0], [], [cls.TAG], plain[0], {"tag": cls.TAG}):
        with pytest.raises(EncodingError):
            cls.from_plain(bad)
    with pytest.raises(EncodingError):
        cls.decode(encode(plain[:-1]))


def _wrong_kind(value: Any) -> Any:
    """A value of another CBOR kind than `value` (a map for a null: no field takes maps)."""
    if value is None:
        return {"x": 0}
    if isinstance(value, bool):
        return b""
    if isinstance(value, int):
        return "7"
    if isinstance(value, bytes):
        return 0
    if isinstance(value, str):
        return b"x"
    return 0  # arrays (records, tuples)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_every_field_of_the_wrong_type_is_refused(cls: type[Record], data: st.DataObject) -> None:
    plain = data.draw(strategy_for(cls)).to_plain()
    for i in range(1, len(plain)):
        changed = list(plain)
        changed[i] = _wrong_kind(plain[i])
        with pytest.raises(EncodingError):
            cls.from_plain(changed)
        with pytest.raises(EncodingError):
            cls.decode(encode(changed))


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_wrong_lengths_and_ranges_are_refused(cls: type[Record], data: st.DataObject) -> None:
    record = data.draw(strategy_for(cls))
    for name, hint in _fields(cls):
        base, constraints = _split(hint)
        bad: list[Any] = []
        for c in constraints:
            if isinstance(c, Len):
                bad += [bytes(c.n - 1), bytes(c.n + 1)]
            if isinstance(c, Range):
                bad += [c.lo - 1] + ([c.hi + 1] if c.hi < UINT64_MAX else [])
        if base is int and not any(isinstance(c, Range) for c in constraints):
            bad += [-1, UINT64_MAX + 1]
        for value in bad:
            with pytest.raises(EncodingError):
                record.replace(**{name: value})
            index = [n for n, _ in _fields(cls)].index(name) + 1
            plain = record.to_plain()
            plain[index] = value
            with pytest.raises(EncodingError):
                cls.from_plain(plain)


@settings(max_examples=30, deadline=None)
@given(strategy_for(wire.BlockHeader))
def test_a_changed_byte_of_a_record_never_decodes_to_another_encoding(header: wire.BlockHeader) -> None:
    data = header.encode()
    for i in range(len(data)):
        changed = bytearray(data)
        changed[i] ^= 0x40
        try:
            decoded = wire.BlockHeader.decode(bytes(changed))
        except EncodingError:
            continue
        assert decoded.encode() == bytes(changed) and decoded != header


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(SizeLimitExceeded):
        wire.Block.decode(bytes(wire.Block.MAX_SIZE + 1))
    with pytest.raises(SizeLimitExceeded):
        wire.Transfer.decode(bytes(wire.Transfer.MAX_SIZE + 1))


def test_text_and_sequence_limits() -> None:
    key = crypto.SigningKey.from_seed(bytes(32))
    base = dict(
        chain_id="t", sender=key.public_key, nonce=0, recipient=bytes(20), amount=1, fee=0, signature=wire.NO_SIGNATURE
    )
    wire.Transfer(memo="m" * 128, **base)
    with pytest.raises(SizeLimitExceeded):
        wire.Transfer(memo="m" * 129, **base)
    with pytest.raises(SizeLimitExceeded):
        wire.Committee(epoch=0, members=(bytes(32),) * (wire.MAX_COMMITTEE + 1))


def test_signatures_and_ids() -> None:
    key = crypto.SigningKey.from_seed(bytes(range(32)))
    tx = wire.Transfer(
        chain_id="t",
        sender=key.public_key,
        nonce=1,
        recipient=bytes(20),
        amount=5,
        fee=1,
        memo="",
        signature=wire.NO_SIGNATURE,
    )
    signed = tx.signed_by(key)
    signed.verify_signature()
    assert signed.signing_bytes() == tx.encode()
    assert signed.tx_id != tx.tx_id  # the id covers the signature
    assert signed.sender_address == key.address
    with pytest.raises(Exception) as info:
        signed.replace(amount=6).verify_signature()
    assert isinstance(info.value, crypto.InvalidSignature)


def test_quorum_size() -> None:
    assert [wire.quorum_size(m) for m in (1, 3, 4, 7, 10, 100)] == [1, 3, 3, 5, 7, 67]
