"""Canonical safetensors: one encoding per tensor set, everything else is "malformed-blob"."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings, strategies as st

from app.core.errors import InvalidReceipt
from app.core.hashing import blob_hash
from app.pot.tensors import EncodeBuffer, decode_tensors, encode_tensors, tensors_hash


def _rebuild(header: dict, body: bytes) -> bytes:  # type: ignore[type-arg]
    raw = json.dumps(header, separators=(",", ":")).encode()
    return len(raw).to_bytes(8, "little") + raw + body


def _parts(blob: bytes) -> tuple[dict, bytes]:  # type: ignore[type-arg]
    n = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.text("abcxyz._", min_size=1, max_size=8),
        st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=16),
        min_size=1,
        max_size=5,
    )
)
def test_round_trip_is_exact_and_independent_of_insertion_order(values: dict[str, list[float]]) -> None:
    tensors = {k: torch.tensor(v, dtype=torch.float32) for k, v in values.items()}
    blob = encode_tensors(tensors)
    assert blob == encode_tensors(dict(reversed(list(tensors.items()))))
    back = decode_tensors(blob)
    assert set(back) == set(tensors) and all(torch.equal(back[k], tensors[k]) for k in tensors)


def test_encode_buffer_writes_the_canonical_bytes_and_is_reused() -> None:
    """The checkpoint writer's buffer gives `encode_tensors`' bytes for every dtype, shape and layout
    (a non-contiguous view, an empty tensor, a scalar), growing when a set is larger, reused when not."""
    buf = EncodeBuffer()
    sets = [
        {
            "w": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(),
            "i": torch.arange(3, dtype=torch.int64),
            "u": torch.arange(5, dtype=torch.uint8),
            "e": torch.ones(0),
            "s": torch.tensor(2.5),
        },
        {"big": torch.randn(64, 33)},
        {"x": torch.randn(3)},
    ]
    for tensors in sets:
        view = buf.encode(tensors)
        assert bytes(view) == encode_tensors(tensors)
        assert tensors_hash(tensors) == blob_hash(encode_tensors(tensors))  # the verifier's hash without a blob
    with pytest.raises(ValueError):
        buf.encode({})


BLOB = encode_tensors({"a": torch.arange(4, dtype=torch.float32), "b": torch.ones(2, 2)})


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:5],  # truncated before the header ends
        lambda b: b + b"\x00",  # trailing bytes
        lambda b: (10**9).to_bytes(8, "little") + b[8:],  # absurd header length
        lambda b: b[:8] + b"[" + b[9:],  # header is not JSON
        lambda b: _rebuild({**_parts(b)[0], "__metadata__": {"x": "y"}}, _parts(b)[1]),  # metadata smuggled in
        lambda b: _rebuild(
            {k: {**v, "dtype": "F64"} if k == "a" else v for k, v in _parts(b)[0].items()}, _parts(b)[1]
        ),
        lambda b: _rebuild(dict(sorted(_parts(b)[0].items(), reverse=True)), _parts(b)[1]),  # reordered header
        lambda b: b[:8] + b[8:].replace(b'"a"', b'"b"', 1),  # duplicate name
    ],
)
def test_tampered_files_are_rejected_as_malformed(mutate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidReceipt) as exc:
        decode_tensors(mutate(BLOB))
    assert exc.value.reason == "malformed-blob"


def test_non_finite_values_and_foreign_dtypes_are_rejected() -> None:
    with pytest.raises(InvalidReceipt):
        decode_tensors(encode_tensors({"a": torch.tensor([float("nan")])}))
    big = torch.randn(100_000)
    for bad in (float("inf"), float("-inf"), float("nan")):  # hidden in a large tensor of ordinary values
        hidden = big.clone()
        hidden[77_777] = bad
        with pytest.raises(InvalidReceipt, match="NaN or infinity"):
            decode_tensors(encode_tensors({"w": hidden}))
    both = torch.tensor([float("inf"), 1.0, float("-inf")])  # their sum is NaN, not a finite number
    with pytest.raises(InvalidReceipt, match="NaN or infinity"):
        decode_tensors(encode_tensors({"w": both}))
    huge = torch.full((8,), 3e38)  # finite values whose sum overflows: still a valid tensor
    assert torch.equal(decode_tensors(encode_tensors({"w": huge}))["w"], huge)
    with pytest.raises(ValueError):
        encode_tensors({"a": torch.zeros(2, dtype=torch.float16)})
    with pytest.raises(ValueError):
        encode_tensors({})


def test_aliased_tensors_encode_as_independent_copies() -> None:
    x = torch.arange(6, dtype=torch.uint8)
    back = decode_tensors(encode_tensors({"x": x, "y": x[:3]}))
    assert torch.equal(back["y"], x[:3])


_DT = st.sampled_from([torch.float32, torch.uint8, torch.int64])


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=6), st.tuples(_DT, st.lists(st.integers(0, 3), max_size=3)), min_size=1, max_size=6
    )
)
def test_bytes_are_exactly_what_the_safetensors_library_writes(spec) -> None:  # type: ignore[no-untyped-def]
    from safetensors.torch import save

    tensors = {
        name: torch.arange(int(torch.tensor(shape).prod()) if shape else 1).reshape(shape).to(dt)
        for name, (dt, shape) in spec.items()
    }
    assert encode_tensors(tensors) == save(tensors)
    assert tensors_hash(tensors) == blob_hash(save(tensors))
    decoded = decode_tensors(encode_tensors(tensors))
    assert all(torch.equal(decoded[k], v) for k, v in tensors.items())
