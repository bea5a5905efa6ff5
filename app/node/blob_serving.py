"""What a node answers when a peer asks for a blob: the store's bytes, or "pending" for a checkpoint this
miner dropped and is re-computing (`app.miner.recompute.CheckpointRecomputer`), or nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core.blobstore import BlobStore
from app.net.errors import BlobPending

if TYPE_CHECKING:
    from app.miner.recompute import CheckpointRecomputer


def read_or_recompute(
    blobs: BlobStore, recompute: CheckpointRecomputer | None, digest: bytes, offset: int, length: int
) -> tuple[int, bytes] | None:
    """`length` bytes of blob `digest` from `offset` with its total size; raises `BlobPending` when the
    blob is a dropped checkpoint being re-computed (the peer is told to ask again); None if unknown."""
    found = blobs.read_range(digest, offset, length)
    if found is None and recompute is not None:
        wait = recompute.pending(digest)
        if wait is not None:
            raise BlobPending(wait)
    return found
