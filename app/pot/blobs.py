"""The blob-store shape the miner needs: content-addressed `put`, `get`, `has`.

The node's real store (`app.core.blobstore.BlobStore`, on disk) has this shape; the miner depends only on the
protocol so training, verification and aggregation run the same against it or against `MemoryBlobStore`.
`fetch_verified` is the one way the miner reads a blob that someone else named: it re-hashes the bytes,
so a store or a peer that hands back other bytes is caught as "blob-hash-mismatch" (a store whose `get`
already checks the hash, `verifies_reads` as the disk store's, is not hashed twice: a second SHA-256
pass over every checkpoint a verifier reads was a tenth of its replay's cost).
`put_deferred` and `sync` let a burst of writes (a round's checkpoints) share one fsync pass on a store
that supports it (`put(data, durable=False)` and `sync()`), and are plain `put` / nothing otherwise.
"""

from __future__ import annotations

from typing import Protocol

from app.core.blobstore import BlobStore as DiskBlobStore
from app.core.errors import InvalidReceipt, StorageError
from app.core.hashing import blob_hash

REASON_MISSING = "blob-missing"
REASON_HASH = "blob-hash-mismatch"


class BlobStore(Protocol):
    def put(self, data: bytes) -> bytes: ...

    def get(self, digest: bytes) -> bytes: ...

    def has(self, digest: bytes) -> bool: ...


class MemoryBlobStore:
    """A dict-backed store: for tests, benchmarks and a verifier's scratch space."""

    def __init__(self) -> None:
        self._blobs: dict[bytes, bytes] = {}

    def put(self, data: bytes | memoryview, digest: bytes | None = None) -> bytes:
        """Store `data`; `digest`, when given, is the caller's `blob_hash` of it (not computed again)."""
        data = bytes(data)
        digest = blob_hash(data) if digest is None else digest
        self._blobs[digest] = data
        return digest

    def get(self, digest: bytes) -> bytes:
        try:
            return self._blobs[digest]
        except KeyError:
            raise KeyError(f"no blob {digest.hex()[:16]}") from None

    def has(self, digest: bytes) -> bool:
        return digest in self._blobs

    def sync(self, digests: object = None) -> int:
        """Nothing to make durable in memory (the disk store's `sync`, for symmetry)."""
        return 0

    def delete(self, digest: bytes) -> bool:
        """Remove a blob; True if it was there (the disk store's `delete`)."""
        return self._blobs.pop(digest, None) is not None

    def corrupt(self, digest: bytes, data: bytes) -> None:
        """Store `data` under a hash it does not have: a lying peer, for tests."""
        self._blobs[digest] = data


def fetch_verified(store: BlobStore, digest: bytes, what: str) -> bytes:
    """The blob `digest` from `store`, re-hashed; `InvalidReceipt` if absent or not matching."""
    try:
        data = store.get(digest)
    except (KeyError, FileNotFoundError):  # the disk store's BlobNotFound is a KeyError
        raise InvalidReceipt(REASON_MISSING, f"{what} {digest.hex()[:16]} is not available") from None
    except StorageError as exc:  # CorruptBlob (deleted on read), BlobTooLarge, an unreadable disk
        reason = REASON_HASH if type(exc).__name__ == "CorruptBlob" else REASON_MISSING
        raise InvalidReceipt(reason, f"{what} {digest.hex()[:16]}: {exc}") from None
    if not getattr(store, "verifies_reads", False) and blob_hash(data) != digest:  # else `get` just did
        raise InvalidReceipt(REASON_HASH, f"{what} {digest.hex()[:16]} does not hash to its address")
    return data


def put_deferred(store: BlobStore, data: bytes) -> bytes:
    """`store.put(data)`, leaving the fsync to a later `sync(store)` when the store can defer it.

    The blob is readable at once and never visible with partial bytes; only its survival of a power
    cut waits for `sync`. Call `sync` before saving or publishing anything that names the blob."""
    if callable(getattr(store, "sync", None)):
        try:
            return store.put(data, durable=False)  # type: ignore[call-arg]
        except TypeError as exc:  # a store with `sync` but no deferred put
            if "durable" not in str(exc):
                raise
    return store.put(data)


def put_hashed(store: BlobStore, data: memoryview, digest: bytes) -> bytes:
    """`put_deferred` of bytes whose `blob_hash` the caller just computed (`digest`), unchanged until this
    returns: the disk and memory stores write them without hashing or copying them again."""
    if isinstance(store, DiskBlobStore):
        return store.put(data, durable=False, digest=digest)
    if isinstance(store, MemoryBlobStore):
        return store.put(data, digest)
    return put_deferred(store, bytes(data))


def sync(store: BlobStore, digests: list[bytes] | None = None) -> None:
    """Make every deferred write of `store` durable (see `put_deferred`), or only those of `digests`;
    a no-op for other stores."""
    fn = getattr(store, "sync", None)
    if callable(fn):
        fn() if digests is None else fn(digests)


def discard(store: BlobStore, digest: bytes) -> None:
    """Remove blob `digest` from `store` if the store can delete (a miner dropping a checkpoint it can
    re-compute); a store without `delete` keeps it, which costs disk but never correctness."""
    fn = getattr(store, "delete", None)
    if callable(fn):
        fn(digest)
