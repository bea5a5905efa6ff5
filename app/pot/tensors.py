"""Canonical tensor serialisation: safetensors bytes with exactly one encoding per tensor set.

A checkpoint, an update and a dataset shard are all content-addressed blobs, so the bytes of a tensor
set must be a function of its contents alone. `encode_tensors` writes the layout safetensors itself writes
(a fixed tensor order, fixed offsets, no metadata);
`decode_tensors` parses with safetensors' Rust reader (no pickle, no code) and then re-encodes and
refuses any input whose bytes differ, so a padded header, an extra metadata entry, a reordered header
or trailing bytes are all "malformed", never a second name for the same tensors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import torch
from safetensors.torch import load as _st_load

from app.core.errors import InvalidReceipt
from app.core.hashing import blob_hasher

MAX_HEADER_BYTES = 1 << 20
MAX_TENSORS = 4096

REASON_MALFORMED = "malformed-blob"


# safetensors' own layout: tensors ordered by dtype (I64, then F32, then U8: the library's dtype order,
# descending) and then by name, data packed in that order, the JSON header padded with spaces to a
# multiple of 8 bytes. Written here directly (the library's Python `save` costs more than the hashing
# it feeds); tests/pot/test_tensors.py checks the bytes equal `safetensors.torch.save` output.
_DTYPES = {torch.int64: ("I64", 0), torch.float32: ("F32", 1), torch.uint8: ("U8", 2)}


def _layout(tensors: Mapping[str, torch.Tensor]) -> tuple[list[str], bytes]:
    """The canonical tensor order and the padded header (with its 8-byte length prefix)."""
    for name, t in tensors.items():
        if t.dtype not in _DTYPES:
            raise ValueError(f"tensor {name!r} has dtype {t.dtype}, not one of the canonical dtypes")
    order = sorted(tensors, key=lambda n: (_DTYPES[tensors[n].dtype][1], n.encode()))
    header: dict[str, object] = {}
    offset = 0
    for name in order:
        t = tensors[name]
        size = t.numel() * t.element_size()
        header[name] = {"dtype": _DTYPES[t.dtype][0], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    head += b" " * (-len(head) % 8)
    return order, len(head).to_bytes(8, "little") + head


def encode_tensors(tensors: Mapping[str, torch.Tensor]) -> bytes:
    """The canonical safetensors bytes of `tensors` (little-endian, no metadata)."""
    if not tensors:
        raise ValueError("a tensor set needs at least one tensor")
    order, head = _layout(tensors)
    chunks = [head]
    for name in order:
        t = tensors[name].detach().to("cpu").contiguous()
        chunks.append(t.numpy().tobytes() if t.numel() else b"")
    return b"".join(chunks)


def tensors_hash(tensors: Mapping[str, torch.Tensor]) -> bytes:
    """`blob_hash(encode_tensors(tensors))` without building the blob: the header and then each tensor's
    memory go straight into the hash. A verifier compares each replayed segment's end with its committed
    hash this way; the blob's copy cost as much as hashing it."""
    if not tensors:
        raise ValueError("a tensor set needs at least one tensor")
    order, head = _layout(tensors)
    h = blob_hasher()
    h.update(head)
    for name in order:
        t = tensors[name].detach().to("cpu").contiguous().reshape(-1)
        if t.numel():
            h.update(t.view(torch.uint8).numpy().data)  # the little-endian bytes `encode_tensors` writes
    return h.digest()


class EncodeBuffer:
    """A reusable buffer holding the canonical encoding of one tensor set at a time.

    `encode` copies each tensor once, straight into the buffer, and returns a view of the bytes
    `encode_tensors` would return (tests/pot/test_tensors.py checks it). A checkpoint every k steps
    then costs one copy of the state into memory already mapped, not `tobytes` into fresh memory and
    a join into more (two copies and the page faults of two new allocations of a checkpoint's size).
    The view is valid until the next `encode`: the caller keeps the buffer alone while the bytes are
    hashed and written.
    """

    def __init__(self) -> None:
        self._buf = torch.empty(0, dtype=torch.uint8)

    def encode(self, tensors: Mapping[str, torch.Tensor]) -> memoryview:
        if not tensors:
            raise ValueError("a tensor set needs at least one tensor")
        order, head = _layout(tensors)
        total = len(head) + sum(tensors[n].numel() * tensors[n].element_size() for n in order)
        if self._buf.numel() < total:
            self._buf = torch.empty(total, dtype=torch.uint8)
        buf = self._buf
        buf[: len(head)].copy_(torch.frombuffer(bytearray(head), dtype=torch.uint8))
        offset = len(head)  # a multiple of 8, and each dtype's tensors start aligned to its size
        for name in order:
            t = tensors[name].detach()
            size = t.numel() * t.element_size()
            if size:
                buf[offset : offset + size].view(t.dtype).view(t.shape).copy_(t)
            offset += size
        return buf.numpy().data.cast("B")[:total]


def _all_finite(t: torch.Tensor) -> bool:
    """No NaN or infinity in `t`. A NaN or an infinity makes the sum non-finite, so a finite sum settles it
    in one pass without the boolean copy `isfinite` makes (30 times faster here); a sum that overflowed
    from finite values falls back to the element check."""
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def decode_tensors(data: bytes, *, require_finite: bool = True) -> dict[str, torch.Tensor]:
    """Parse canonical safetensors bytes; raise `InvalidReceipt("malformed-blob")` on anything else."""
    if len(data) < 8:
        raise InvalidReceipt(REASON_MALFORMED, "shorter than a safetensors header")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > MAX_HEADER_BYTES or 8 + header_len > len(data):
        raise InvalidReceipt(REASON_MALFORMED, f"header length {header_len} is out of bounds")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidReceipt(REASON_MALFORMED, f"header is not JSON: {exc}") from None
    if not isinstance(header, dict) or len(header) > MAX_TENSORS:
        raise InvalidReceipt(REASON_MALFORMED, "header is not a table of at most 4096 tensors")
    if "__metadata__" in header:
        raise InvalidReceipt(REASON_MALFORMED, "metadata is not allowed")
    try:
        tensors = _st_load(bytes(data))
    except Exception as exc:  # safetensors raises its own SafetensorError for every malformed input
        raise InvalidReceipt(REASON_MALFORMED, f"unreadable safetensors: {exc}") from None
    for name, t in tensors.items():
        if t.dtype not in _DTYPES:
            raise InvalidReceipt(REASON_MALFORMED, f"tensor {name!r} has dtype {t.dtype}")
        if require_finite and t.is_floating_point() and not _all_finite(t):
            raise InvalidReceipt(REASON_MALFORMED, f"tensor {name!r} holds NaN or infinity")
    # The data section is the tensors' bytes by construction, so canonical = canonical header + no slack.
    _, head = _layout(tensors) if tensors else ([], b"")
    total = len(head) + sum(t.numel() * t.element_size() for t in tensors.values())
    if not tensors or data[: len(head)] != head or len(data) != total:
        raise InvalidReceipt(REASON_MALFORMED, "not the canonical encoding of its tensors")
    return tensors
