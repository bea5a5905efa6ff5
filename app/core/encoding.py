"""Canonical encoding: deterministic CBOR with a schema for every signed or hashed type.

One value has exactly one byte string. `encode` writes RFC 8949 core deterministic CBOR (shortest
integer and length forms, definite lengths, map keys sorted) through cbor2's canonical mode, and
`decode` re-encodes what it read and rejects any input whose bytes differ, so a peer cannot make two
encodings of one object (which would give two hashes of one transaction).

Only these CBOR values exist on the wire: unsigned and negative integers within 64 bits, byte strings,
UTF-8 text, arrays, maps with text keys, booleans and null. Floats and tags are refused: floats have
several encodings of one number and platform-dependent rounding, so losses and learning rates travel
as scaled integers or decimal strings.

Records are frozen dataclasses deriving from `Record`. A record encodes as the array
`[TAG, field_1, ..., field_n]` in declaration order; decoding checks the tag, the arity and every
field against its annotation and its `Annotated` constraints (`Len`, `MaxLen`, `Range`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, TypeVar, get_args, get_origin, get_type_hints

import cbor2

from app.core.errors import EncodingError, SizeLimitExceeded

UINT64_MAX = 2**64 - 1
INT64_MIN = -(2**63)
DEFAULT_MAX_MESSAGE = 4 * 1024 * 1024
MAX_DEPTH = 16

Plain = None | bool | int | bytes | str | list[Any] | dict[str, Any]


# --------------------------------------------------------------------------- plain values


def _check_plain(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise EncodingError("value nested too deeply")
    if value is None or isinstance(value, (bool, bytes, str)):
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= UINT64_MAX:
            raise EncodingError("integer outside the 64-bit range")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError("map keys must be text")
            _check_plain(item, depth + 1)
        return
    raise EncodingError(f"type {type(value).__name__} has no canonical encoding")


def encode(value: Plain) -> bytes:
    """Encode a plain value (no records) canonically."""
    _check_plain(value)
    return cbor2.dumps(value, canonical=True)


def decode(data: bytes, max_size: int = DEFAULT_MAX_MESSAGE) -> Plain:
    """Decode canonical CBOR, refusing oversized, trailing, non-canonical or foreign-typed input."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise EncodingError("expected bytes")
    data = bytes(data)
    if len(data) > max_size:
        raise SizeLimitExceeded(f"{len(data)} bytes exceeds the limit of {max_size}")
    if not data:
        raise EncodingError("empty input")
    _scan(data)
    try:
        value = cbor2.loads(
            data,
            max_depth=MAX_DEPTH + 1,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            tag_hook=_refuse_tag,
        )
        _reject_floats(value)
        _check_plain(value)
        canonical = cbor2.dumps(value, canonical=True)
    except EncodingError:
        raise
    except Exception as exc:  # belt and braces: cbor2 raises several types for malformed input
        raise EncodingError(f"malformed CBOR ({type(exc).__name__})") from None
    if canonical != data:
        raise EncodingError("non-canonical encoding")
    return value


_SIMPLE_ALLOWED = frozenset({20, 21, 22})  # false, true, null


def _scan(data: bytes) -> None:
    """Walk the item heads before cbor2 builds anything, refusing what the wire never carries.

    Tags are refused here, not only in cbor2's tag hook, because cbor2 decodes some tags itself:
    bignums (tag 2/3, whose text form overflows Python's int-to-str limit) and shared references
    (tag 28/29, which make self-referencing or exponentially repeated values). Floats, other simple
    values, indefinite lengths and nesting past MAX_DEPTH are refused too, so that the decoder's only
    failure is an EncodingError.
    """
    pos, end = 0, len(data)
    remaining = [1]  # items still expected at each open nesting level
    while remaining:
        if remaining[-1] == 0:
            remaining.pop()
            continue
        remaining[-1] -= 1
        if pos >= end:
            raise EncodingError("malformed CBOR: truncated input")
        initial = data[pos]
        pos += 1
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            arg = info
        elif info <= 27:
            width = 1 << (info - 24)
            if pos + width > end:
                raise EncodingError("malformed CBOR: truncated input")
            arg = int.from_bytes(data[pos : pos + width], "big")
            pos += width
        elif info == 31:
            raise EncodingError("indefinite-length items are not allowed")
        else:
            raise EncodingError(f"malformed CBOR: reserved additional information {info}")
        if major == 6:
            raise EncodingError(f"CBOR tag {arg} is not allowed")
        if major == 7:
            if info >= 25:
                raise EncodingError("floats are not allowed")
            if arg not in _SIMPLE_ALLOWED:
                raise EncodingError(f"CBOR simple value {arg} is not allowed")
        elif major in (2, 3):
            if arg > end - pos:
                raise EncodingError("malformed CBOR: truncated input")
            pos += arg
        elif major in (4, 5):
            if len(remaining) > MAX_DEPTH + 1:
                raise EncodingError("value nested too deeply")
            count = arg * (2 if major == 5 else 1)
            if count > end - pos:  # every item takes at least one byte
                raise EncodingError("malformed CBOR: truncated input")
            remaining.append(count)
    if pos != end:
        raise EncodingError("trailing bytes after the CBOR value")


def _refuse_tag(_decoder: Any, tag: Any) -> Any:
    raise EncodingError(f"CBOR tag {tag.tag} is not allowed")


def _reject_floats(value: Any, depth: int = 0) -> None:
    if isinstance(value, float):
        raise EncodingError("floats are not allowed")
    if isinstance(value, list):
        for item in value:
            _reject_floats(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _reject_floats(item, depth + 1)


# --------------------------------------------------------------------------- constraints


@dataclass(frozen=True)
class Len:
    """Exact length of a bytes or text field."""

    n: int


@dataclass(frozen=True)
class MaxLen:
    """Maximum length of a bytes, text or sequence field."""

    n: int


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of an integer field."""

    lo: int
    hi: int


Bytes32 = typing.Annotated[bytes, Len(32)]
Bytes20 = typing.Annotated[bytes, Len(20)]
Signature64 = typing.Annotated[bytes, Len(64)]
PublicKey32 = typing.Annotated[bytes, Len(32)]
Uint64 = typing.Annotated[int, Range(0, UINT64_MAX)]
ShortText = typing.Annotated[str, MaxLen(64)]


# --------------------------------------------------------------------------- records

R = TypeVar("R", bound="Record")


class Record:
    """Base of every wire and storage type: a frozen dataclass with one canonical encoding.

    Subclasses set `TAG` (unique across the protocol) and, when they need one, `MAX_SIZE`.
    """

    TAG: ClassVar[int] = -1
    MAX_SIZE: ClassVar[int] = DEFAULT_MAX_MESSAGE

    def __post_init__(self) -> None:
        # Validate at construction too, so a bad object cannot be built locally either.
        for f, hint in _fields(type(self)):
            _check_field(getattr(self, f.name), hint, f"{type(self).__name__}.{f.name}", 0)

    def to_plain(self) -> list[Any]:
        return [self.TAG] + [_to_plain(getattr(self, f.name)) for f, _ in _fields(type(self))]

    def encode(self) -> bytes:
        data = cbor2.dumps(self.to_plain(), canonical=True)
        if len(data) > self.MAX_SIZE:
            raise SizeLimitExceeded(f"{type(self).__name__} of {len(data)} bytes exceeds the limit of {self.MAX_SIZE}")
        return data

    @classmethod
    def decode(cls: type[R], data: bytes) -> R:
        plain = decode(data, max_size=cls.MAX_SIZE)
        return cls.from_plain(plain)

    @classmethod
    def from_plain(cls: type[R], plain: Any) -> R:
        return _from_plain(cls, plain, cls.__name__, 0)

    def replace(self: R, **changes: Any) -> R:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@lru_cache(maxsize=None)
def _fields(cls: type) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    hints = get_type_hints(cls, include_extras=True)
    return tuple((f, hints[f.name]) for f in dataclasses.fields(cls))


def _to_plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_plain()
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    return value


def _split(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    if get_origin(hint) is typing.Annotated:
        base, *constraints = get_args(hint)
        return base, tuple(constraints)
    return hint, ()


def _from_plain(hint: Any, plain: Any, where: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise EncodingError(f"{where}: nested too deeply")
    base, constraints = _split(hint)
    origin = get_origin(base)
    if isinstance(base, type) and issubclass(base, Record):
        if not isinstance(plain, list) or not plain:
            raise EncodingError(f"{where}: expected a {base.__name__} record")
        if plain[0] != base.TAG or isinstance(plain[0], bool):
            raise EncodingError(f"{where}: tag {plain[0]!r} is not {base.__name__}'s tag {base.TAG}")
        fields = _fields(base)
        if len(plain) != len(fields) + 1:
            raise EncodingError(f"{where}: {base.__name__} has {len(fields)} fields, got {len(plain) - 1}")
        kwargs = {f.name: _from_plain(h, v, f"{where}.{f.name}", depth + 1) for (f, h), v in zip(fields, plain[1:])}
        try:
            return base(**kwargs)
        except EncodingError:
            raise
        except (TypeError, ValueError) as exc:
            raise EncodingError(f"{where}: {exc}") from None
    if origin is tuple:
        args = get_args(base)
        if not isinstance(plain, list):
            raise EncodingError(f"{where}: expected an array")
        _apply_constraints(plain, constraints, where)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_plain(args[0], v, f"{where}[{i}]", depth + 1) for i, v in enumerate(plain))
        if len(plain) != len(args):
            raise EncodingError(f"{where}: expected {len(args)} items, got {len(plain)}")
        return tuple(_from_plain(a, v, f"{where}[{i}]", depth + 1) for i, (a, v) in enumerate(zip(args, plain)))
    if origin in (typing.Union, types.UnionType):
        options = get_args(base)
        if plain is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _from_plain(option, plain, where, depth + 1)
            except EncodingError as exc:
                errors.append(str(exc))
        raise EncodingError(f"{where}: matches no alternative ({'; '.join(errors)})")
    _check_field(plain, hint, where, depth)
    return plain


def _check_field(value: Any, hint: Any, where: str, depth: int) -> None:
    base, constraints = _split(hint)
    origin = get_origin(base)
    if isinstance(base, type) and issubclass(base, Record):
        if not isinstance(value, base):
            raise EncodingError(f"{where}: expected {base.__name__}, got {type(value).__name__}")
        return
    if origin is tuple:
        if not isinstance(value, tuple):
            raise EncodingError(f"{where}: expected a tuple, got {type(value).__name__}")
        _apply_constraints(value, constraints, where)
        args = get_args(base)
        item_hints = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(item_hints) != len(value):
            raise EncodingError(f"{where}: expected {len(item_hints)} items")
        for i, (h, v) in enumerate(zip(item_hints, value)):
            _check_field(v, h, f"{where}[{i}]", depth + 1)
        return
    if origin in (typing.Union, types.UnionType):
        options = get_args(base)
        if value is None and type(None) in options:
            return
        for option in options:
            if option is type(None):
                continue
            try:
                _check_field(value, option, where, depth + 1)
                return
            except EncodingError:
                continue
        raise EncodingError(f"{where}: {type(value).__name__} matches no alternative")
    if base is bool:
        if not isinstance(value, bool):
            raise EncodingError(f"{where}: expected bool")
    elif base is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise EncodingError(f"{where}: expected int, got {type(value).__name__}")
        lo, hi = 0, UINT64_MAX
        for c in constraints:
            if isinstance(c, Range):
                lo, hi = c.lo, c.hi
        if not lo <= value <= hi:
            raise EncodingError(f"{where}: {value} outside [{lo}, {hi}]")
    elif base is bytes:
        if not isinstance(value, bytes):
            raise EncodingError(f"{where}: expected bytes, got {type(value).__name__}")
    elif base is str:
        if not isinstance(value, str):
            raise EncodingError(f"{where}: expected text, got {type(value).__name__}")
    else:
        raise EncodingError(f"{where}: unsupported schema type {base!r}")
    _apply_constraints(value, constraints, where)


def _apply_constraints(value: Any, constraints: tuple[Any, ...], where: str) -> None:
    for c in constraints:
        if isinstance(c, Len) and len(value) != c.n:
            raise EncodingError(f"{where}: length {len(value)} is not {c.n}")
        if isinstance(c, MaxLen) and len(value) > c.n:
            raise SizeLimitExceeded(f"{where}: length {len(value)} exceeds {c.n}")
