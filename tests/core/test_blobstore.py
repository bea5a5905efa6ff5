"""The content-addressed blob store: round trips, verification on read, limits, and SIGKILL safety."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from app.core.blobstore import (
    BlobHashMismatch,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    CorruptBlob,
    InvalidBlobHash,
    WriterClosed,
)
from app.core.hashing import blob_hash, blob_hasher
from tests.core.crash_writer import blob_payload

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_streamed_hash_equals_blob_hash(chunks: list[bytes]) -> None:
    h = blob_hasher()
    for chunk in chunks:
        h.update(chunk)
    assert h.digest() == blob_hash(b"".join(chunks))


def test_put_get_has_delete(store: BlobStore) -> None:
    digest = store.put(b"checkpoint bytes")
    assert digest == blob_hash(b"checkpoint bytes")
    assert store.has(digest)
    assert store.get(digest) == b"checkpoint bytes"
    assert store.size_of(digest) == len(b"checkpoint bytes")
    assert store.path_of(digest).read_bytes() == b"checkpoint bytes"
    assert store.list() == [digest]
    assert store.delete(digest) is True
    assert store.delete(digest) is False
    assert not store.has(digest)
    with pytest.raises(BlobNotFound):
        store.get(digest)
    with pytest.raises(BlobNotFound):
        store.size_of(digest)


def test_empty_blob_is_a_blob(store: BlobStore) -> None:
    digest = store.put(b"")
    assert store.get(digest) == b""


def test_put_of_hashed_bytes_stores_them_under_that_hash(store: BlobStore) -> None:
    """`put(..., digest=)` (a checkpoint the writer just hashed) skips the hashing, not the checks on read."""
    data = memoryview(bytearray(b"checkpoint bytes" * 1000))
    digest = blob_hash(data)
    assert store.put(data, durable=False, digest=digest) == digest
    assert store.get(digest) == bytes(data) and digest in store.unsynced()
    assert store.put(data, durable=False, digest=digest) == digest  # present: compared, not written
    wrong = blob_hash(b"other")
    store.put(b"liar", digest=wrong)  # a wrong hash is the caller's bug; the first read catches it
    with pytest.raises(CorruptBlob):
        store.get(wrong)


def test_put_twice_is_idempotent(store: BlobStore) -> None:
    a = store.put(b"same")
    b = store.put(bytearray(b"same"))
    assert a == b and store.list() == [a]


def test_streaming_write_and_chunked_read(store: BlobStore) -> None:
    payload = blob_payload(3)
    data = b"".join(payload)
    digest = store.put_stream(iter(payload), expected=blob_hash(data))
    assert digest == blob_hash(data)
    chunks = list(store.iter_chunks(digest, chunk_size=1000))
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) == 1000
    with store.open(digest) as f:
        assert f.read() == data


def test_streamed_blob_with_unexpected_hash_is_not_stored(store: BlobStore) -> None:
    with pytest.raises(BlobHashMismatch):
        store.put_stream([b"abc", b"def"], expected=blob_hash(b"abcdeX"))
    assert store.list() == []
    assert store.sweep_temporary() == 0  # the temporary file was removed on the spot


def test_size_limit_on_write(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", max_size=10)
    store.put(b"x" * 10)
    with pytest.raises(BlobTooLarge):
        store.put(b"x" * 11)
    with pytest.raises(BlobTooLarge):
        store.put_stream([b"x" * 6, b"x" * 6])
    assert store.list() == [blob_hash(b"x" * 10)]
    assert store.sweep_temporary() == 0


def test_size_limit_on_read(tmp_path: Path) -> None:
    digest = BlobStore(tmp_path / "blobs").put(b"y" * 100)
    small = BlobStore(tmp_path / "blobs", max_size=50)
    with pytest.raises(BlobTooLarge):
        small.get(digest)


def test_corrupted_file_is_detected_reported_and_removed(store: BlobStore, caplog) -> None:  # type: ignore[no-untyped-def]
    digest = store.put(b"a model update" * 100)
    path = store.path_of(digest)
    raw = bytearray(path.read_bytes())
    raw[37] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptBlob):
        store.get(digest)
    assert not store.has(digest)
    assert digest.hex() in caplog.text


def test_truncated_file_is_corrupt_for_every_reader(store: BlobStore) -> None:
    for reader in (store.verify, store.open, lambda d: list(store.iter_chunks(d, 7))):
        digest = store.put(b"shard" * 50)
        path = store.path_of(digest)
        path.write_bytes(path.read_bytes()[:-1])
        with pytest.raises(CorruptBlob):
            reader(digest)
        assert not store.has(digest)


def test_writer_is_single_use(store: BlobStore) -> None:
    w = store.writer()
    w.write(b"abc")
    w.commit()
    with pytest.raises(WriterClosed):
        w.write(b"more")
    with pytest.raises(WriterClosed):
        w.commit()


def test_writer_left_without_commit_leaves_nothing(store: BlobStore) -> None:
    with store.writer() as w:
        w.write(b"half a checkpoint")
    assert store.list() == []
    assert store.sweep_temporary() == 0


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33), "00" * 32, None])
def test_bad_hashes_are_refused(store: BlobStore, bad: object) -> None:
    for call in (store.get, store.has, store.delete, store.path_of, store.verify, store.iter_chunks):
        with pytest.raises(InvalidBlobHash):
            call(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidBlobHash):
        store.writer(expected=bad if bad is not None else b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["text", 5, None])
def test_non_bytes_data_is_refused(store: BlobStore, bad: object) -> None:
    with pytest.raises(TypeError):
        store.put(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.put_stream([b"ok", bad])  # type: ignore[list-item]
    assert store.list() == []


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_bad_limits_are_refused(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError):
        BlobStore(tmp_path / "b", max_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        list(BlobStore(tmp_path / "c").iter_chunks(bytes(32), chunk_size=bad))  # type: ignore[arg-type]


def test_listing_ignores_foreign_files(store: BlobStore) -> None:
    digest = store.put(b"real")
    (store.root / "objects" / "zz").mkdir()
    (store.root / "objects" / digest.hex()[:2] / "notes.txt").write_text("hi")
    (store.root / "objects" / "README").write_text("hi")
    assert store.list() == [digest]


# --------------------------------------------------------------------------- crash safety


def _kill_writer_and_check(argv: list[str], root: Path, round_: int, rng: random.Random, reported: set[str]) -> None:
    """Run a blob writer, SIGKILL it, then check the store: every reported blob is listed, every listed
    file verifies against its name (no partial or foreign bytes), and no temporary survives a sweep.

    The kill lands mostly while a big blob (> 1 MiB) is being written; every third round, at a random
    time after a blob was stored (in a sync, too, for writers that sync).
    """
    proc = subprocess.Popen([sys.executable, *argv], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline().split()
        assert line, "writer exited early"
        if line[0] == "stored":
            reported.add(line[1])
            if round_ % 3 == 0:
                time.sleep(rng.uniform(0.0, 0.3))
                break
        elif line[0] == "commit" and int(line[1]) > 2**20 and reported:
            time.sleep(rng.uniform(0.0, 0.03))
            break
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    reported |= {line.split()[1] for line in rest.splitlines() if line.startswith("stored ")}

    store = BlobStore(root)
    assert reported <= {d.hex() for d in store.list()}
    for digest in store.list():
        store.verify(digest)  # raises CorruptBlob on any file whose bytes differ from its name
    store.sweep_temporary()
    assert list((root / "tmp").iterdir()) == []


def test_sigkill_during_writes_never_exposes_a_partial_blob(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    reported: set[str] = set()
    for round_ in range(10):
        _kill_writer_and_check(["-m", "tests.core.crash_writer", "blobs", str(root)], root, round_, rng, reported)


# --------------------------------------------------------------------------- deferred writes


def _fsynced_inodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the inode of every fsync from now on (files and folders alike)."""
    seen: list[int] = []
    real = os.fsync

    def spy(fd: int) -> None:
        seen.append(os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr("app.core.blobstore.os.fsync", spy)
    return seen


def test_deferred_put_skips_fsync_and_sync_makes_it_durable(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _fsynced_inodes(monkeypatch)
    a = store.put(b"checkpoint a", durable=False)
    b = store.put_stream([b"checkpoint ", b"b"], durable=False)
    assert seen == []  # no fsync at all on a deferred write
    assert store.get(a) == b"checkpoint a" and store.get(b) == b"checkpoint b"  # readable at once
    assert set(store.unsynced()) == {a, b}

    assert store.sync() == 2
    assert store.unsynced() == []
    for d in (a, b):
        path = store.path_of(d)
        assert path.stat().st_ino in seen  # the file
        assert path.parent.stat().st_ino in seen  # the folder holding its name
    assert (store.root / "objects").stat().st_ino in seen  # the new fan-out folders
    seen.clear()
    assert store.sync() == 0 and seen == []  # nothing left to do


def test_durable_put_of_a_deferred_blob_syncs_it(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    d = store.put(b"x" * 1000, durable=False)
    other = store.put(b"y", durable=False)
    seen = _fsynced_inodes(monkeypatch)
    assert store.put(b"x" * 1000) == d
    assert store.path_of(d).stat().st_ino in seen
    assert store.unsynced() == [other]
    assert store.sync([other]) == 1 and store.unsynced() == []


def test_deferred_put_does_not_trust_a_present_file_with_other_bytes(store: BlobStore) -> None:
    """What a power cut can leave of an unsynced blob: the right name and size, other bytes."""
    data = b"the real checkpoint bytes"
    d = store.put(data)
    store.path_of(d).write_bytes(b"\0" * len(data))
    assert store.put(data, durable=False) == d  # rewritten, not skipped
    assert store.get(d) == data
    assert store.unsynced() == [d]
    store.sync()
    assert store.get(d) == data


def test_deleted_or_corrupt_deferred_blobs_are_forgotten(store: BlobStore) -> None:
    a = store.put(b"a", durable=False)
    b = store.put(b"bb", durable=False)
    store.delete(a)
    store.path_of(b).write_bytes(b"xx")
    with pytest.raises(CorruptBlob):
        store.get(b)
    assert store.unsynced() == []
    assert store.sync() == 0


_DEFERRED_WRITER = """
import sys
from app.core.blobstore import BlobStore
from tests.core.crash_writer import blob_payload
store = BlobStore(sys.argv[1])
n = int(sys.argv[2])
while True:
    n += 1
    chunks = blob_payload(n)
    print("commit", sum(map(len, chunks)), flush=True)
    digest = store.put(b"".join(chunks), durable=False)
    print("stored", digest.hex(), flush=True)
    if n % 5 == 0:
        store.sync()
        print("synced", flush=True)
"""


def test_sigkill_during_deferred_writes_never_exposes_a_wrong_blob(tmp_path: Path) -> None:
    """A crash before `sync()` may lose durability (a power cut), never atomicity: no file under a
    hash name ever holds other bytes, and every blob the writer reported is there after the kill."""
    root = tmp_path / "blobs"
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    reported: set[str] = set()
    for round_ in range(6):
        _kill_writer_and_check(["-c", _DEFERRED_WRITER, str(root), str(round_ * 1000)], root, round_, rng, reported)
