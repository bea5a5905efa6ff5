"""Content-addressed blobs on disk: checkpoints, model updates and dataset shards, named by hash.

A blob lives at `ROOT/objects/<first 2 hex>/<64 hex of blob_hash>`. A file under a hash name is
always complete: writes go to a temporary file in `ROOT/tmp/` (the same file system, which is what
makes the rename atomic), are flushed and fsynced, moved into place with `os.replace`, and the
target folder is fsynced so the rename itself survives a power cut. A killed writer leaves at most a
stray temporary file, which `sweep_temporary()` removes.

A write may also be *deferred* (`put(data, durable=False)`, `writer(durable=False)`): the file is
written and renamed into place the same way, so no process crash (SIGKILL included) can ever expose a
partial blob under a hash name, but neither the file nor the folder is fsynced. The store remembers
such blobs, and one `sync()` later makes all of them durable at once (each file, then each folder that
received one). This is for bursts of blobs that only matter once something durable refers to them
(a round's checkpoints: `sync()` runs before the resume record or the receipt that names them). After
a power cut an unsynced blob may be missing, or present with wrong bytes; every read verifies, so it
is caught as `BlobNotFound`/`CorruptBlob`, and a deferred `put` of a blob already present compares
the stored bytes before trusting them.

Bytes on disk are never trusted: every read recomputes the hash; a file that no longer matches its
name (bit rot, a tampering user, a bad disk) is logged, deleted and reported as `CorruptBlob`, so the
caller fetches it again from a peer.

Threads and processes may use one store concurrently: temporary names are unique, and two writers
of one blob replace it with identical bytes.
"""

from __future__ import annotations

import builtins
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from app.core.errors import StorageError
from app.core.hashing import HASH_LEN, blob_hash, blob_hasher

log = logging.getLogger(__name__)

DEFAULT_MAX_BLOB_SIZE = 2 * 1024**3
DEFAULT_CHUNK_SIZE = 1024 * 1024
_TMP_SUFFIX = ".part"


class BlobError(StorageError):
    """Base of the blob store's errors."""


class InvalidBlobHash(BlobError, ValueError):
    """A blob name that is not 32 bytes."""


class BlobNotFound(BlobError, KeyError):
    """No blob is stored under this hash."""


class CorruptBlob(BlobError):
    """A stored file whose content no longer matches its hash; it has been deleted."""


class BlobTooLarge(BlobError):
    """A blob over the store's size limit, on write or on read."""


class BlobHashMismatch(BlobError):
    """Streamed content whose hash differs from the one the caller expected; nothing was stored."""


class WriterClosed(BlobError):
    """A `BlobWriter` used after `commit()` or `abort()`."""


def _check_hash(digest: bytes) -> str:
    if not isinstance(digest, bytes) or len(digest) != HASH_LEN:
        raise InvalidBlobHash(f"a blob hash is {HASH_LEN} bytes, got {digest!r:.80}")
    return digest.hex()


def _fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable (POSIX; Windows has no directory handles to sync)."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """A folder of content-addressed blobs with atomic writes and verified reads."""

    # `get` returns only bytes that hash to the digest asked for (else CorruptBlob): a reader that must
    # check a blob against its name (app.pot.blobs.fetch_verified) need not hash it a second time.
    verifies_reads = True

    def __init__(self, root: str | Path, max_size: int = DEFAULT_MAX_BLOB_SIZE) -> None:
        if not isinstance(max_size, int) or max_size < 1:
            raise ValueError(f"max_size must be a positive integer, got {max_size!r}")
        self.root = Path(root)
        self.max_size = max_size
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"
        self._lock = threading.Lock()
        self._unsynced: dict[bytes, Path] = {}  # deferred writes not yet made durable by `sync()`
        self._objects_dirty = False  # a fan-out folder created by a deferred write, not yet fsynced
        try:
            self._objects.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(exist_ok=True)
        except OSError as exc:
            raise BlobError(f"cannot create the blob store at {self.root}: {exc}") from None

    # ------------------------------------------------------------------ paths

    def path_of(self, digest: bytes) -> Path:
        """Where the blob `digest` lives (whether or not it is stored yet)."""
        name = _check_hash(digest)
        return self._objects / name[:2] / name

    def has(self, digest: bytes) -> bool:
        return self.path_of(digest).is_file()

    def read_range(self, digest: bytes, offset: int, length: int) -> tuple[int, bytes] | None:
        """(blob size, up to `length` bytes from `offset`) for serving a peer; None if not held."""
        try:
            path = self.path_of(digest)
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(offset)
                return size, f.read(length)
        except (OSError, ValueError):
            return None

    def size_of(self, digest: bytes) -> int:
        try:
            return self.path_of(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(digest.hex()) from None

    def __iter__(self) -> Iterator[bytes]:
        """The hashes of all stored blobs (temporary files are never listed)."""
        for folder in sorted(self._objects.iterdir()):
            if not folder.is_dir() or len(folder.name) != 2:
                continue
            for entry in sorted(folder.iterdir()):
                name = entry.name
                if len(name) == 2 * HASH_LEN and name.startswith(folder.name) and entry.is_file():
                    try:
                        yield bytes.fromhex(name)
                    except ValueError:
                        continue

    def list(self) -> list[bytes]:
        return list(iter(self))

    # ------------------------------------------------------------------ writing

    def writer(self, expected: bytes | None = None, *, durable: bool = True) -> BlobWriter:
        """A streaming writer; `commit()` returns the hash (checked against `expected` if given).
        With `durable=False` the commit skips the fsyncs and leaves them to `sync()`."""
        if expected is not None:
            _check_hash(expected)
        return BlobWriter(self, expected, durable=durable)

    def put(self, data: bytes | memoryview, *, durable: bool = True, digest: bytes | None = None) -> bytes:
        """Store `data` and return its hash; storing a blob already present is a cheap no-op.

        `durable=False` defers the fsyncs to the next `sync()` (see the module docstring); a blob
        already present is then compared with `data` (it may be an unsynced leftover of a crash).
        `digest`: the caller's `blob_hash` of exactly these bytes, which must not change during the
        call (a checkpoint snapshot the caller just hashed): spares a copy and two passes of hashing.
        A wrong one is caught like bit rot, on the first read."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"blob data must be bytes, not {type(data).__name__}")
        if len(data) > self.max_size:
            raise BlobTooLarge(f"{len(data)} bytes exceeds the limit of {self.max_size}")
        if digest is None:
            data = bytes(data)
            digest = blob_hash(data)
        else:
            _check_hash(digest)
        if self._present(digest, len(data)):
            if durable:
                if digest in self._unsynced:  # written deferred by us: make it durable now
                    self.sync([digest])
                return digest
            if self._holds(digest, data):
                with self._lock:
                    self._unsynced[digest] = self.path_of(digest)
                return digest
        with BlobWriter(self, digest, durable=durable, hashed=True) as w:
            w.write(data)
            return w.commit()

    def put_stream(self, chunks: Iterable[bytes], expected: bytes | None = None, *, durable: bool = True) -> bytes:
        """Store a blob given as chunks (a download, a checkpoint being serialised)."""
        with self.writer(expected, durable=durable) as w:
            for chunk in chunks:
                w.write(chunk)
            return w.commit()

    def unsynced(self) -> builtins.list[bytes]:  # `list` in this class body is the method `list`
        """The blobs written with `durable=False` that no `sync()` has made durable yet."""
        with self._lock:
            return list(self._unsynced)

    def sync(self, digests: Iterable[bytes] | None = None) -> int:
        """Make deferred writes durable: fsync each file, then each folder that received one (and
        `objects/` if a fan-out folder was created). `digests` limits it to those blobs (others and
        blobs that are already durable are skipped); default all. Returns how many files were synced.
        Call it before saving anything durable that names these blobs."""
        with self._lock:
            if digests is None:
                todo = dict(self._unsynced)
            else:
                todo = {d: self._unsynced[d] for d in digests if d in self._unsynced}
            objects_dirty = self._objects_dirty
        folders: set[Path] = set()
        synced = 0
        try:
            for path in todo.values():
                try:
                    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
                except FileNotFoundError:  # deleted (or found corrupt) since: nothing to keep
                    continue
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                folders.add(path.parent)
                synced += 1
            if objects_dirty:
                _fsync_dir(self._objects)
            for folder in sorted(folders):
                _fsync_dir(folder)
        except OSError as exc:
            raise BlobError(f"could not sync the blob store at {self.root}: {exc}") from None
        with self._lock:
            for digest, path in todo.items():
                if self._unsynced.get(digest) == path:
                    del self._unsynced[digest]
            if objects_dirty and digests is None:
                self._objects_dirty = False
        return synced

    def _holds(self, digest: bytes, data: bytes | memoryview) -> bool:
        """Whether the file under `digest` holds exactly `data` (False if unreadable or missing)."""
        try:
            with open(self.path_of(digest), "rb") as f:
                return f.read(len(data) + 1) == data
        except OSError:
            return False

    def _present(self, digest: bytes, size: int) -> bool:
        try:
            return self.path_of(digest).stat().st_size == size
        except FileNotFoundError:
            return False

    def _install(self, tmp_path: Path, digest: bytes, durable: bool = True) -> None:
        target = self.path_of(digest)
        if not target.parent.is_dir():
            target.parent.mkdir(exist_ok=True)
            if durable:
                _fsync_dir(self._objects)
            else:
                with self._lock:
                    self._objects_dirty = True
        os.replace(tmp_path, target)
        if durable:
            _fsync_dir(target.parent)
            with self._lock:
                self._unsynced.pop(digest, None)
        else:
            with self._lock:
                self._unsynced[digest] = target

    # ------------------------------------------------------------------ reading

    def get(self, digest: bytes) -> bytes:
        """The whole blob, verified against its hash (use `iter_chunks` for large blobs).

        One read and one hash pass, no joined copy: a verifier reads several checkpoints per receipt."""
        path = self.path_of(digest)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise BlobNotFound(digest.hex()) from None
        with f:
            if os.fstat(f.fileno()).st_size > self.max_size:
                raise BlobTooLarge(f"stored blob {digest.hex()} exceeds the limit of {self.max_size}")
            data = f.read(self.max_size + 1)  # bounded even if the file grew meanwhile
        if len(data) > self.max_size:
            raise BlobTooLarge(f"stored blob {digest.hex()} exceeds the limit of {self.max_size}")
        h = blob_hasher()
        h.update(data)
        if h.digest() != digest:
            self._discard_corrupt(digest, path)
        return data

    def iter_chunks(self, digest: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """Stream the blob. The hash is checked at the end: act on the data only once the
        iteration finished without `CorruptBlob`."""
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        path = self.path_of(digest)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise BlobNotFound(digest.hex()) from None
        return self._stream(f, digest, path, chunk_size)

    def _stream(self, f: BinaryIO, digest: bytes, path: Path, chunk_size: int) -> Iterator[bytes]:
        h, total = blob_hasher(), 0
        with f:
            while chunk := f.read(chunk_size):
                total += len(chunk)
                if total > self.max_size:
                    raise BlobTooLarge(f"stored blob {digest.hex()} exceeds the limit of {self.max_size}")
                h.update(chunk)
                yield chunk
        if h.digest() != digest:
            self._discard_corrupt(digest, path)

    def verify(self, digest: bytes) -> None:
        """Raise `BlobNotFound`, or `CorruptBlob` (deleting the file), unless the blob is intact."""
        for _ in self.iter_chunks(digest):
            pass

    def open(self, digest: bytes) -> BinaryIO:
        """A read handle on a blob verified just now (for libraries that want a file, e.g. safetensors)."""
        self.verify(digest)
        try:
            return open(self.path_of(digest), "rb")
        except FileNotFoundError:
            raise BlobNotFound(digest.hex()) from None

    def _discard_corrupt(self, digest: bytes, path: Path) -> None:
        log.warning("blob %s is corrupt on disk; deleting it", digest.hex())
        with self._lock:
            self._unsynced.pop(digest, None)
        try:
            path.unlink()
            _fsync_dir(path.parent)
        except FileNotFoundError:
            pass
        raise CorruptBlob(f"blob {digest.hex()} did not match its hash and was removed")

    # ------------------------------------------------------------------ removal

    def delete(self, digest: bytes) -> bool:
        """Remove a blob; True if it was there."""
        path = self.path_of(digest)
        with self._lock:
            self._unsynced.pop(digest, None)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def sweep_temporary(self) -> int:
        """Remove temporary files left by killed writers; returns how many. Call at start-up, while
        no writer runs (the daemon's data-folder lock guarantees that)."""
        removed = 0
        for entry in self._tmp.iterdir():
            if entry.name.endswith(_TMP_SUFFIX):
                entry.unlink(missing_ok=True)
                removed += 1
        return removed


class BlobWriter:
    """Streams one blob into a temporary file; `commit()` verifies and installs it atomically.

    Use as a context manager: leaving the block without `commit()` discards the temporary file.
    """

    def __init__(self, store: BlobStore, expected: bytes | None, *, durable: bool = True, hashed: bool = False) -> None:
        """`hashed`: `expected` is already known to be the content's hash (`BlobStore.put`), so the
        writer does not hash the content a second time."""
        if hashed and expected is None:
            raise ValueError("a pre-hashed write needs its hash")
        self._store = store
        self._expected = expected
        self._durable = durable
        self._hash = None if hashed else blob_hasher()
        self._size = 0
        fd, name = tempfile.mkstemp(dir=store._tmp, suffix=_TMP_SUFFIX)
        self._path = Path(name)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, chunk: bytes | memoryview) -> None:
        if self._file is None:
            raise WriterClosed("the writer is already committed or aborted")
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            self.abort()
            raise TypeError(f"blob chunks must be bytes, not {type(chunk).__name__}")
        self._size += len(chunk)
        if self._size > self._store.max_size:
            self.abort()
            raise BlobTooLarge(f"blob exceeds the limit of {self._store.max_size} bytes")
        if self._hash is not None:
            self._hash.update(chunk)
        self._file.write(chunk)

    def commit(self) -> bytes:
        """Install the blob under its hash (durably, unless the writer is deferred) and return the hash."""
        if self._file is None:
            raise WriterClosed("the writer is already committed or aborted")
        digest = self._hash.digest() if self._hash is not None else self._expected
        assert digest is not None  # a pre-hashed writer always has its hash
        if self._expected is not None and digest != self._expected:
            self.abort()
            raise BlobHashMismatch(f"content hashes to {digest.hex()}, expected {self._expected.hex()}")
        f, self._file = self._file, None
        try:
            f.flush()
            if self._durable:
                os.fsync(f.fileno())
            f.close()
            self._store._install(self._path, digest, self._durable)
        except OSError as exc:
            f.close()
            self._path.unlink(missing_ok=True)
            raise BlobError(f"could not store blob {digest.hex()}: {exc}") from None
        return digest

    def abort(self) -> None:
        """Discard what was written; safe to call twice."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._path.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort()
