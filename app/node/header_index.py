"""What a light client keeps on disk: the hash of every header it verified, and where to resume.

Why a file at all: a light daemon restarted after a week must not verify the chain again from
genesis (or from its shipped checkpoint), and history items it meets later (an old receipt, a proof
against an old state root) must be checked against headers it verified once and then dropped. So it
keeps 32 bytes a height and one resume point, never a body or a full header history:

- `hashes(height, hash)`: the verified header hash at every height from `first_height` (the trusted
  start: genesis or the checkpoint) to `height`, contiguous.
- `meta`: the chain id and genesis hash it belongs to, the last two verified headers, and the resume
  point: a verified header and the committee that signs the header after it, which is exactly what
  `HeaderChain(genesis, start)` takes.

A header that ends an epoch with changed members leaves the next committee known by hash only until
the next header's QC (or a fetched record) names it. Such a head cannot be a `HeaderChain` start, so
the resume point is then the header before it, with the committee that signed the head (which that
earlier header announces); resuming re-verifies one header.

Durability is the project's SQLite recipe (`app/core/storage.py`): write-ahead log, `synchronous=FULL`,
and one IMMEDIATE transaction per recorded batch, so a process killed mid-batch leaves the file at the
end of the previous batch. A file that is not such a database, fails its checks, or belongs to another
chain raises a `HeaderIndexError` (a `ValueError`) that says to delete it and resync.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.core.errors import EncodingError
from app.core.genesis import Genesis
from app.core.types import BlockHeader, Committee
from app.node.headers import HeaderChain

FORMAT = b"pot-header-index/1"
HASH_LEN = 32
WAL_PAGES = 256
WAL_BYTES = 1 << 20

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS hashes (height INTEGER PRIMARY KEY CHECK (height >= 0),"
    " hash BLOB NOT NULL CHECK (length(hash) = 32))",
)


class HeaderIndexError(ValueError):
    """The header index cannot be used; the message says which file and what to do."""


class CorruptIndexError(HeaderIndexError):
    """The file is not a header index, or its contents do not hang together."""


class ForeignIndexError(HeaderIndexError):
    """The index was written for another chain (or another fork than the checkpoint's)."""


class HeaderIndex:
    """The light client's SQLite file. Open with `HeaderIndex(path)`; `bind` it to a genesis before
    recording (`LightClient` does); close with `close()`. One writer process at a time; any of its
    threads may read and record (each call is serialised here)."""

    def __init__(self, path: Path, genesis: Genesis | None = None) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise HeaderIndexError(f"folder {self.path.parent} does not exist")
        self._lock = threading.RLock()  # one statement or transaction at a time on the shared connection
        self._conn = self._connect()
        try:
            self._check()
            if genesis is not None:
                self.bind(genesis)
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ opening and checks

    def _fix(self) -> str:
        return f"delete {self.path} (and its -wal and -shm files), or the light folder, to resync headers"

    def _connect(self) -> sqlite3.Connection:
        conn = None
        try:
            # any thread: the sync loop records, and an RPC thread may too (an account proven on demand
            # syncs to the answering peer's head) or read hashes; `_lock` serialises them on this connection
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
            # fold the log in every ~1 MB and cut it back after, so the folder stays the index's size
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={WAL_BYTES}")
            with _tx(conn):
                for statement in SCHEMA:
                    conn.execute(statement)
                stored = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
                if stored is None:
                    conn.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            raise CorruptIndexError(f"{self.path} is not a usable header index ({exc}); {self._fix()}") from None
        if mode != "wal":
            conn.close()
            raise HeaderIndexError(f"{self.path}: the file system refused write-ahead logging ({mode})")
        if stored is not None and bytes(stored[0]) != FORMAT:
            conn.close()
            raise CorruptIndexError(f"{self.path} is not a header index of this version; {self._fix()}")
        return conn

    def _check(self) -> None:
        """The heights are contiguous and the meta rows decode: cheap enough to run at every open."""
        lo, hi, count = self._one("SELECT min(height), max(height), count(*) FROM hashes") or (None, None, 0)
        if count and hi - lo + 1 != count:
            raise CorruptIndexError(f"{self.path} has gaps in its header hashes; {self._fix()}")
        head = self._header("head")
        if count and (head is None or head.height != hi or head.block_hash != self.hash_at(hi)):
            raise CorruptIndexError(f"{self.path}: its head does not match its hashes; {self._fix()}")
        if count and self.resume_point() is None:
            raise CorruptIndexError(f"{self.path} has hashes but no resume point; {self._fix()}")

    def bind(self, genesis: Genesis) -> None:
        """Tie an empty index to `genesis`, or refuse an index written for another chain."""
        want = {"chain_id": genesis.params.chain_id.encode(), "genesis_hash": genesis.genesis_hash}
        with self._transaction() as conn:
            for key, value in want.items():
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                if row is None:
                    conn.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
                elif bytes(row[0]) != value:
                    raise ForeignIndexError(
                        f"{self.path} holds headers of another chain (its {key} differs from "
                        f"{genesis.params.chain_id!r}'s); {self._fix()}"
                    )

    def resume(self, genesis: Genesis, start: tuple[BlockHeader, Committee] | None = None) -> HeaderChain:
        """A `HeaderChain` at the index's resume point, or, for an empty index, at the trusted `start`
        (genesis if None), which then becomes the index's first height.

        A start the index has already passed must be one of its verified headers (the index is then on
        the checkpoint's chain); a start beyond the index is not taken: the headers between are verified.
        """
        self.bind(genesis)
        point = self.resume_point()
        if point is None:
            chain = HeaderChain(genesis, start)
            self.start(chain.head, chain.committee)
            return chain
        first, top = self.first_height, self.height
        if start is not None and first is not None and top is not None and first <= start[0].height <= top:
            if self.hash_at(start[0].height) != start[0].block_hash:
                raise ForeignIndexError(
                    f"{self.path} verified another header at the checkpoint's height {start[0].height}; {self._fix()}"
                )
        return HeaderChain(genesis, point)

    def save(self, chain: HeaderChain, headers: Sequence[BlockHeader]) -> None:
        """Record `headers`, just verified by `chain`, and move the resume point to its head."""
        self.record(headers, chain.committee, chain.pending_committee_hash)

    def close(self) -> None:
        """Fold the write-ahead log into the file (so the folder is one file at rest) and close."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError:
                pass  # another reader holds the log: it is folded in on the next open
            self._conn.close()

    def __enter__(self) -> HeaderIndex:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ readers

    @property
    def height(self) -> int | None:
        """The highest verified height recorded, or None for an empty index."""
        value = (self._one("SELECT max(height) FROM hashes") or (None,))[0]
        return None if value is None else int(value)

    @property
    def first_height(self) -> int | None:
        """The trusted start (genesis 0 or the checkpoint's height); no hash is kept below it."""
        value = (self._one("SELECT min(height) FROM hashes") or (None,))[0]
        return None if value is None else int(value)

    def hash_at(self, height: int) -> bytes | None:
        """The verified header hash at `height`, or None outside `first_height..height`."""
        row = self._one("SELECT hash FROM hashes WHERE height = ?", (height,))
        return None if row is None else bytes(row[0])

    def resume_point(self) -> tuple[BlockHeader, Committee] | None:
        """A verified header and the committee that signs the next one, for `HeaderChain(genesis, start)`."""
        header = self._header("resume_header")
        raw = self._meta("resume_committee")
        if header is None or raw is None:
            return None
        try:
            committee = Committee.decode(raw)
        except EncodingError as exc:
            raise CorruptIndexError(f"{self.path}: its resume committee is damaged ({exc}); {self._fix()}") from None
        if committee.committee_hash != header.next_committee_hash:
            raise CorruptIndexError(f"{self.path}: its resume point does not hang together; {self._fix()}")
        return header, committee

    # ------------------------------------------------------------------ writers

    def start(self, header: BlockHeader, committee: Committee) -> None:
        """Begin an empty index at the trusted start (genesis or a checkpoint) `header`."""
        if self.height is not None:
            raise HeaderIndexError(f"{self.path} already holds headers from height {self.first_height}")
        if committee.committee_hash != header.next_committee_hash:
            raise HeaderIndexError("the start header does not announce the committee given with it")
        with self._transaction() as conn:
            conn.execute("INSERT INTO hashes VALUES (?, ?)", (header.height, header.block_hash))
            self._put(conn, head=header.encode(), prev=header.encode(), resume_header=header.encode())
            self._put(conn, resume_committee=committee.encode())

    def record(
        self,
        headers: Sequence[BlockHeader],
        committee: Committee | None = None,
        pending_committee_hash: bytes | None = None,
    ) -> None:
        """Record verified `headers` (consecutive, continuing the index; ones already recorded must
        match) in one transaction, and with `committee` (the chain's committee after the last of them)
        and `pending_committee_hash` move the resume point there, in the same transaction."""
        with self._transaction() as conn:
            top = conn.execute("SELECT max(height) FROM hashes").fetchone()[0]
            if top is None:
                raise HeaderIndexError(f"{self.path} has no start yet: call start() with the trusted header")
            head = self._header("head")
            prev = self._header("prev")
            assert head is not None and prev is not None  # _check holds them whenever hashes exist
            for h in headers:
                if h.height <= top:
                    stored = conn.execute("SELECT hash FROM hashes WHERE height = ?", (h.height,)).fetchone()
                    if stored is None or bytes(stored[0]) != h.block_hash:
                        raise ForeignIndexError(f"header {h.height} differs from the one recorded; {self._fix()}")
                    continue
                if h.height != top + 1 or h.prev_hash != head.block_hash:
                    raise HeaderIndexError(f"header {h.height} does not continue the index at {top}")
                conn.execute("INSERT INTO hashes VALUES (?, ?)", (h.height, h.block_hash))
                top, prev, head = h.height, head, h
            self._put(conn, head=head.encode(), prev=prev.encode())
            if committee is not None:
                self._set_resume(conn, head, prev, committee, pending_committee_hash)

    def append(self, header: BlockHeader, committee: Committee, pending_committee_hash: bytes | None = None) -> None:
        """Record one verified head with the chain's committee after it (see `record`)."""
        self.record([header], committee, pending_committee_hash)

    def _set_resume(
        self,
        conn: sqlite3.Connection,
        head: BlockHeader,
        prev: BlockHeader,
        committee: Committee,
        pending: bytes | None,
    ) -> None:
        # With a hand-over pending, `committee` signed `head` and is what `prev` announced.
        at = head if pending is None else prev
        if committee.committee_hash != at.next_committee_hash:
            raise HeaderIndexError(f"header {at.height} does not announce the committee given with it")
        self._put(conn, resume_header=at.encode(), resume_committee=committee.encode())

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with _tx(self._conn) as conn:
                    yield conn
            except sqlite3.DatabaseError as exc:
                raise CorruptIndexError(f"{self.path}: {exc}; {self._fix()}") from None

    def _meta(self, key: str) -> bytes | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else bytes(row[0])

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        try:
            with self._lock:
                row = self._conn.execute(sql, args).fetchone()
        except sqlite3.DatabaseError as exc:
            raise CorruptIndexError(f"{self.path}: {exc}; {self._fix()}") from None
        return None if row is None else tuple(row)

    def _header(self, key: str) -> BlockHeader | None:
        raw = self._meta(key)
        try:
            return None if raw is None else BlockHeader.decode(raw)
        except EncodingError as exc:
            raise CorruptIndexError(f"{self.path}: its {key} header is damaged ({exc}); {self._fix()}") from None

    @staticmethod
    def _put(conn: sqlite3.Connection, **values: bytes) -> None:
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())


@contextmanager
def _tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One IMMEDIATE transaction: committed on success, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
