"""Canonical tensor serialisation: safetensors bytes with exactly one encoding per tensor set.

A checkpoint, an update and a dataset shard are all content-addressed blobs, so the bytes of a tensor
set must be a function of its contents alone. `encode_tensors` writes contiguous CPU tensors with no
metadata through safetensors (whose header lists tensors in a fixed order and has fixed offsets);
`decode_tensors` parses with safetensors' Rust reader (no pickle, no code) and then re-encodes and
refuses any input whose bytes differ, so a padded header, an extra metadata entry, a reordered header
or trailing bytes are all "malformed", never a second name for the same tensors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import torch
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

from app.core.errors import InvalidReceipt

MAX_HEADER_BYTES = 1 << 20
MAX_TENSORS = 4096
ALLOWED_DTYPES = {torch.float32, torch.uint8, torch.int64}

REASON_MALFORMED = "malformed-blob"


def encode_tensors(tensors: Mapping[str, torch.Tensor]) -> bytes:
    """The canonical safetensors bytes of `tensors` (moved to CPU, made contiguous)."""
    if not tensors:
        raise ValueError("a tensor set needs at least one tensor")
    plain: dict[str, torch.Tensor] = {}
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in ALLOWED_DTYPES:
            raise ValueError(f"tensor {name!r} has dtype {t.dtype}, not one of the canonical dtypes")
        plain[name] = t.detach().to("cpu").contiguous().clone()  # own storage: no aliasing
    return _st_save(plain)


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
        if t.dtype not in ALLOWED_DTYPES:
            raise InvalidReceipt(REASON_MALFORMED, f"tensor {name!r} has dtype {t.dtype}")
        if require_finite and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise InvalidReceipt(REASON_MALFORMED, f"tensor {name!r} holds NaN or infinity")
    if not tensors or encode_tensors(tensors) != bytes(data):
        raise InvalidReceipt(REASON_MALFORMED, "not the canonical encoding of its tensors")
    return tensors
