"""Durable chain storage: one SQLite file holding blocks, indexes and the state at the head.

Why SQLite: one file, atomic multi-table transactions, and a write-ahead log, so a block, its
indexes, the state diff and the new head pointer become visible together or not at all, even when
the process is killed mid-write. The database runs with `journal_mode=WAL` (readers never block the
writer), `synchronous=FULL` (a commit is on disk when `commit_block` returns, so nothing reported
final is lost on power failure either) and `foreign_keys=ON`.

The store knows nothing of the state machine: the state is an opaque mapping of canonical key bytes
to canonical value bytes (`app/core/state.py` produces and consumes it). Each commit writes only the
difference from the previous head's state.

Threads: every thread gets its own connection (WAL lets them read while another thread writes);
writes are serialised by one lock per `Store`. One process owns a database for writing (the daemon
holds the data folder's lock); several `Store` objects on one file in one process are not supported.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

from app.core import crypto
from app.core.encoding import Record, decode
from app.core.errors import EncodingError, StorageError
from app.core.history import tx_addresses
from app.core.types import (
    AnyTransaction,
    Block,
    BlockBody,
    BlockHeader,
    QuorumCert,
    Reward,
    SignedHeader,
    WorkReceipt,
)

SCHEMA_VERSION = 1
MAX_HEADERS_PER_QUERY = 2048
MAX_ROWS_PER_QUERY = 1000
SQLITE_MAX_INT = 2**63 - 1  # above every height: "no bound" for a height filter
HASH_LEN = 32
ADDRESS_LEN = crypto.ADDRESS_LEN

R = TypeVar("R", bound=Record)


# --------------------------------------------------------------------------- errors


class ForeignChainError(StorageError):
    """The database, or a block offered to it, belongs to another chain id."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer version of the software; refuse rather than corrupt it."""


class CorruptStoreError(StorageError):
    """The file is not a database, fails its integrity check, or holds undecodable rows."""


class ChainLinkError(StorageError):
    """A block that does not extend the stored head (wrong height or previous hash), or a second genesis."""


class InvalidQuery(StorageError, ValueError):
    """A reader or writer argument of the wrong type or outside its bounds."""


class StoreClosed(StorageError):
    """The store was used after `close()`."""


# --------------------------------------------------------------------------- schema

# Each entry upgrades the schema from version i to i+1; append, never edit a shipped one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE blocks (
        height INTEGER PRIMARY KEY CHECK (height >= 0),
        hash   BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
        header BLOB NOT NULL,
        body   BLOB NOT NULL,
        qc     BLOB
    );
    CREATE TABLE head (
        id     INTEGER PRIMARY KEY CHECK (id = 0),
        height INTEGER NOT NULL REFERENCES blocks(height)
    );
    CREATE TABLE state (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE txs (
        height   INTEGER NOT NULL REFERENCES blocks(height),
        position INTEGER NOT NULL,
        tx_id    BLOB NOT NULL,
        data     BLOB NOT NULL,
        PRIMARY KEY (height, position)
    ) WITHOUT ROWID;
    CREATE INDEX txs_by_id ON txs(tx_id);
    CREATE TABLE tx_addresses (
        address  BLOB NOT NULL,
        height   INTEGER NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (address, height, position),
        FOREIGN KEY (height, position) REFERENCES txs(height, position)
    ) WITHOUT ROWID;
    CREATE TABLE receipts (
        height     INTEGER NOT NULL REFERENCES blocks(height),
        position   INTEGER NOT NULL,
        receipt_id BLOB NOT NULL,
        task_id    BLOB NOT NULL,
        round      INTEGER NOT NULL,
        miner      BLOB NOT NULL,
        data       BLOB NOT NULL,
        PRIMARY KEY (height, position)
    ) WITHOUT ROWID;
    CREATE INDEX receipts_by_task ON receipts(task_id, round);
    CREATE INDEX receipts_by_miner ON receipts(miner, height);
    CREATE TABLE rewards (
        height    INTEGER NOT NULL REFERENCES blocks(height),
        position  INTEGER NOT NULL,
        recipient BLOB NOT NULL,
        data      BLOB NOT NULL,
        PRIMARY KEY (height, position)
    ) WITHOUT ROWID;
    CREATE INDEX rewards_by_recipient ON rewards(recipient, height);
    """,
)


# --------------------------------------------------------------------------- result rows


@dataclass(frozen=True)
class Head:
    """The last committed block."""

    height: int
    hash: bytes


@dataclass(frozen=True)
class TxEntry:
    height: int
    position: int
    tx: AnyTransaction


@dataclass(frozen=True)
class ReceiptEntry:
    height: int
    position: int
    receipt: WorkReceipt


@dataclass(frozen=True)
class RewardEntry:
    height: int
    position: int
    reward: Reward


# --------------------------------------------------------------------------- the store


class Store:
    """The chain database of one node. Open with `Store(path, chain_id)`; close with `close()`."""

    def __init__(self, path: str | Path, chain_id: str) -> None:
        if not isinstance(chain_id, str) or not chain_id:
            raise InvalidQuery("chain_id must be a non-empty string")
        self.path = Path(path)
        self.chain_id = chain_id
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._conn_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        # The state at `_cache_height`, kept so a commit can diff without reading the whole table.
        self._state_cache: dict[bytes, bytes] | None = None
        self._cache_height: int | None = None
        self._initialise()

    # ------------------------------------------------------------------ connections

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise CorruptStoreError(f"{self.path} is not a usable database: {exc}") from None
        if mode != "wal":
            conn.close()
            raise StorageError(f"{self.path}: the file system refused write-ahead logging ({mode})")
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreClosed("the store is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._conn_lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection; further use raises `StoreClosed`."""
        self._closed = True
        with self._conn_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: committed on success, rolled back on any exception.

        Callers hold `_write_lock`, so the state cache changes only with the committed state.
        """
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise _storage_error(exc) from None
            raise

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise _storage_error(exc) from None

    # ------------------------------------------------------------------ schema and identity

    def _initialise(self) -> None:
        if not self.path.parent.is_dir():
            raise StorageError(f"folder {self.path.parent} does not exist")
        try:
            with self._write_lock, self._transaction() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                row = conn.execute("SELECT version FROM schema_version").fetchone()
                version = 0 if row is None else int(row[0])
                if version > SCHEMA_VERSION:
                    raise SchemaTooNewError(
                        f"{self.path} has schema {version}; this software knows up to {SCHEMA_VERSION}"
                    )
                for step in range(version, SCHEMA_VERSION):
                    for statement in _statements(MIGRATIONS[step]):
                        conn.execute(statement)
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
                stored = conn.execute("SELECT value FROM meta WHERE key = 'chain_id'").fetchone()
                if stored is None:
                    conn.execute("INSERT INTO meta VALUES ('chain_id', ?)", (self.chain_id.encode(),))
                elif bytes(stored[0]) != self.chain_id.encode():
                    raise ForeignChainError(
                        f"{self.path} holds chain {bytes(stored[0]).decode(errors='replace')!r}, not {self.chain_id!r}"
                    )
        except StorageError:
            self.close()
            raise

    def schema_version(self) -> int:
        return int(self._query("SELECT version FROM schema_version")[0][0])

    def check_integrity(self) -> None:
        """Run SQLite's full integrity and foreign-key checks; raise `CorruptStoreError` on any fault."""
        result = self._query("PRAGMA integrity_check")
        if result != [("ok",)]:
            raise CorruptStoreError(f"integrity check failed: {result[:5]}")
        broken = self._query("PRAGMA foreign_key_check")
        if broken:
            raise CorruptStoreError(f"foreign key check failed: {broken[:5]}")

    # ------------------------------------------------------------------ writers

    def commit_genesis(self, block: Block, state_entries: Mapping[bytes, bytes]) -> None:
        """Write the genesis block (height 0) and the genesis state into an empty store."""
        self._check_block(block)
        if block.header.height != 0:
            raise ChainLinkError(f"genesis must have height 0, not {block.header.height}")
        entries = _checked_entries(state_entries)
        with self._write_lock:
            with self._transaction() as conn:
                if conn.execute("SELECT 1 FROM head").fetchone() is not None:
                    raise ChainLinkError("the store already has a genesis block")
                self._insert_block(conn, block)
                conn.executemany("INSERT INTO state VALUES (?, ?)", entries.items())
                conn.execute("INSERT INTO head VALUES (0, 0)")
            self._state_cache, self._cache_height = entries, 0

    def commit_block(self, block: Block, state_entries: Mapping[bytes, bytes]) -> None:
        """Append `block` on the head with the state it produces, all in one transaction.

        `state_entries` is the complete state after the block; only its difference from the
        stored state is written. The caller has validated the block; the store only checks that
        it belongs to this chain and extends the head.
        """
        self._check_block(block)
        entries = _checked_entries(state_entries)
        with self._write_lock:
            with self._transaction() as conn:
                row = conn.execute(
                    "SELECT blocks.height, blocks.hash FROM head JOIN blocks ON blocks.height = head.height"
                ).fetchone()
                if row is None:
                    raise ChainLinkError("the store has no genesis block yet")
                height, head_hash = int(row[0]), bytes(row[1])
                if block.header.height != height + 1:
                    raise ChainLinkError(f"block height {block.header.height} does not follow head {height}")
                if block.header.prev_hash != head_hash:
                    raise ChainLinkError(f"block {block.header.height} does not link to the head's hash")
                old = self._cached_state(conn, height)
                deleted = [(k,) for k in old.keys() - entries.keys()]
                changed = [(k, v) for k, v in entries.items() if old.get(k) != v]
                self._insert_block(conn, block)
                conn.executemany("DELETE FROM state WHERE key = ?", deleted)
                conn.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", changed)
                conn.execute("UPDATE head SET height = ?", (block.header.height,))
                # Drop the cache until the commit is known to have succeeded.
                self._state_cache = None
            self._state_cache, self._cache_height = entries, block.header.height

    def _check_block(self, block: Block) -> None:
        if not isinstance(block, Block):
            raise InvalidQuery(f"expected a Block, got {type(block).__name__}")
        if block.header.chain_id != self.chain_id:
            raise ForeignChainError(f"block is for chain {block.header.chain_id!r}, not {self.chain_id!r}")

    def _cached_state(self, conn: sqlite3.Connection, height: int) -> dict[bytes, bytes]:
        if self._state_cache is None or self._cache_height != height:
            rows = conn.execute("SELECT key, value FROM state").fetchall()
            self._state_cache = {bytes(k): bytes(v) for k, v in rows}
            self._cache_height = height
        return self._state_cache

    @staticmethod
    def _insert_block(conn: sqlite3.Connection, block: Block) -> None:
        h = block.header.height
        qc = block.qc.encode() if block.qc is not None else None
        conn.execute(
            "INSERT INTO blocks VALUES (?, ?, ?, ?, ?)",
            (h, block.block_hash, block.header.encode(), block.body.encode(), qc),
        )
        body = block.body
        conn.executemany(
            "INSERT INTO txs VALUES (?, ?, ?, ?)",
            [(h, i, tx.tx_id, tx.encode()) for i, tx in enumerate(body.transactions)],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO tx_addresses VALUES (?, ?, ?)",
            [(addr, h, i) for i, tx in enumerate(body.transactions) for addr in tx_addresses(tx)],
        )
        conn.executemany(
            "INSERT INTO receipts VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (h, i, r.receipt_id, r.task_id, r.round, crypto.key_hash(r.miner), r.encode())
                for i, r in enumerate(body.receipts)
            ],
        )
        conn.executemany(
            "INSERT INTO rewards VALUES (?, ?, ?, ?)",
            [(h, i, r.recipient, r.encode()) for i, r in enumerate(body.rewards)],
        )

    # ------------------------------------------------------------------ block readers

    def head(self) -> Head | None:
        """The last committed block, or None before genesis."""
        rows = self._query("SELECT blocks.height, blocks.hash FROM head JOIN blocks ON blocks.height = head.height")
        return Head(int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def height_of(self, block_hash: bytes) -> int | None:
        """The height of the stored block with this hash, or None."""
        _check_bytes(block_hash, HASH_LEN, "block hash")
        rows = self._query("SELECT height FROM blocks WHERE hash = ?", (block_hash,))
        return int(rows[0][0]) if rows else None

    def header_by_height(self, height: int) -> BlockHeader | None:
        _check_height(height)
        rows = self._query("SELECT header FROM blocks WHERE height = ?", (height,))
        return _decode(BlockHeader, rows[0][0]) if rows else None

    def block_by_height(self, height: int) -> Block | None:
        _check_height(height)
        rows = self._query("SELECT header, body, qc FROM blocks WHERE height = ?", (height,))
        return _assemble(*rows[0]) if rows else None

    def block_by_hash(self, block_hash: bytes) -> Block | None:
        _check_bytes(block_hash, HASH_LEN, "block hash")
        rows = self._query("SELECT header, body, qc FROM blocks WHERE hash = ?", (block_hash,))
        return _assemble(*rows[0]) if rows else None

    def headers_range(self, start: int, count: int) -> list[BlockHeader]:
        """Up to `count` consecutive headers from `start` (fewer at the head), for header sync."""
        return [s.header for s in self.signed_headers_range(start, count)]

    def signed_headers_range(self, start: int, count: int) -> list[SignedHeader]:
        """Like `headers_range`, with each header's quorum certificate, for light clients."""
        _check_height(start)
        _check_count(count, MAX_HEADERS_PER_QUERY)
        rows = self._query(
            "SELECT header, qc FROM blocks WHERE height >= ? AND height < ? ORDER BY height",
            (start, start + count),
        )
        return [
            SignedHeader(
                header=_decode(BlockHeader, header),
                qc=_decode(QuorumCert, qc) if qc is not None else None,
            )
            for header, qc in rows
        ]

    # ------------------------------------------------------------------ state readers

    def state_entries(self) -> dict[bytes, bytes]:
        """The whole state at the head, as `ChainState.from_entries` takes it."""
        return {bytes(k): bytes(v) for k, v in self._query("SELECT key, value FROM state")}

    def state_value(self, key: bytes) -> bytes | None:
        if not isinstance(key, bytes):
            raise InvalidQuery(f"state key must be bytes, not {type(key).__name__}")
        rows = self._query("SELECT value FROM state WHERE key = ?", (key,))
        return bytes(rows[0][0]) if rows else None

    # ------------------------------------------------------------------ index readers

    def tx_by_id(self, tx_id: bytes) -> TxEntry | None:
        """The first inclusion of a transaction, or None."""
        _check_bytes(tx_id, HASH_LEN, "tx id")
        rows = self._query(
            "SELECT height, position, data FROM txs WHERE tx_id = ? ORDER BY height, position LIMIT 1",
            (tx_id,),
        )
        return TxEntry(rows[0][0], rows[0][1], _decode_tx(rows[0][2])) if rows else None

    def txs_by_address(
        self, address: bytes, limit: int = 100, offset: int = 0, before_height: int | None = None
    ) -> list[TxEntry]:
        """Transactions sent or received by `address` (`history.tx_addresses`), newest first (wallet
        history); only those below `before_height` when given (a light client's next page)."""
        _check_bytes(address, ADDRESS_LEN, "address")
        _check_page(limit, offset)
        if before_height is not None:
            _check_height(before_height, "before_height")
        rows = self._query(
            "SELECT txs.height, txs.position, txs.data FROM tx_addresses AS a "
            "JOIN txs ON txs.height = a.height AND txs.position = a.position "
            "WHERE a.address = ? AND a.height < ? ORDER BY a.height DESC, a.position DESC LIMIT ? OFFSET ?",
            (address, SQLITE_MAX_INT if before_height is None else before_height, limit, offset),
        )
        return [TxEntry(h, p, _decode_tx(d)) for h, p, d in rows]

    def rewards_by_address(self, address: bytes, limit: int = 100, offset: int = 0) -> list[RewardEntry]:
        """Rewards paid to `address`, newest first."""
        _check_bytes(address, ADDRESS_LEN, "address")
        _check_page(limit, offset)
        rows = self._query(
            "SELECT height, position, data FROM rewards WHERE recipient = ? "
            "ORDER BY height DESC, position DESC LIMIT ? OFFSET ?",
            (address, limit, offset),
        )
        return [RewardEntry(h, p, _decode(Reward, d)) for h, p, d in rows]

    def receipts_by_address(self, address: bytes, limit: int = 100, offset: int = 0) -> list[ReceiptEntry]:
        """Work receipts of the miner whose key hashes to `address`, newest first."""
        _check_bytes(address, ADDRESS_LEN, "address")
        _check_page(limit, offset)
        rows = self._query(
            "SELECT height, position, data FROM receipts WHERE miner = ? "
            "ORDER BY height DESC, position DESC LIMIT ? OFFSET ?",
            (address, limit, offset),
        )
        return [ReceiptEntry(h, p, _decode(WorkReceipt, d)) for h, p, d in rows]

    def receipts_by_task(self, task_id: bytes, round_: int, limit: int = 100, offset: int = 0) -> list[ReceiptEntry]:
        """Included receipts for one round of one task, in chain order."""
        _check_bytes(task_id, HASH_LEN, "task id")
        _check_height(round_, "round")
        _check_page(limit, offset)
        rows = self._query(
            "SELECT height, position, data FROM receipts WHERE task_id = ? AND round = ? "
            "ORDER BY height, position LIMIT ? OFFSET ?",
            (task_id, round_, limit, offset),
        )
        return [ReceiptEntry(h, p, _decode(WorkReceipt, d)) for h, p, d in rows]


# --------------------------------------------------------------------------- helpers


def _storage_error(exc: sqlite3.DatabaseError) -> StorageError:
    """Name SQLite's failure: a damaged file is `CorruptStoreError`, anything else (a full disk,
    a lock held too long) a plain `StorageError`."""
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return CorruptStoreError(f"damaged database: {text}")
    return StorageError(f"database error: {text}")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _checked_entries(entries: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    if not isinstance(entries, Mapping):
        raise InvalidQuery(f"state entries must be a mapping, not {type(entries).__name__}")
    out: dict[bytes, bytes] = {}
    for key, value in entries.items():
        if not isinstance(key, bytes) or not isinstance(value, bytes):
            raise InvalidQuery(
                f"state entries must map bytes to bytes, got {type(key).__name__} -> {type(value).__name__}"
            )
        out[key] = value
    return out


def _check_height(value: int, what: str = "height") -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise InvalidQuery(f"{what} must be an integer in [0, 2**63), got {value!r}")


def _check_count(count: int, maximum: int) -> None:
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= maximum:
        raise InvalidQuery(f"count must be an integer in [1, {maximum}], got {count!r}")


def _check_page(limit: int, offset: int) -> None:
    _check_count(limit, MAX_ROWS_PER_QUERY)
    _check_height(offset, "offset")


def _check_bytes(value: bytes, length: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != length:
        raise InvalidQuery(f"{what} must be {length} bytes")


def _decode(cls: type[R], data: bytes) -> R:
    try:
        return cls.decode(bytes(data))
    except EncodingError as exc:
        raise CorruptStoreError(f"stored {cls.__name__} does not decode: {exc}") from None


_TX_TYPES: dict[int, type[Record]] = {cls.TAG: cls for cls in get_args(AnyTransaction)}


def _decode_tx(data: bytes) -> AnyTransaction:
    try:
        plain = decode(bytes(data))
        cls = _TX_TYPES.get(plain[0]) if isinstance(plain, list) and plain else None
        if cls is None:
            raise EncodingError("not a transaction record")
        return cls.from_plain(plain)  # type: ignore[return-value]
    except EncodingError as exc:
        raise CorruptStoreError(f"stored transaction does not decode: {exc}") from None


def _assemble(header: bytes, body: bytes, qc: bytes | None) -> Block:
    return Block(
        header=_decode(BlockHeader, header),
        body=_decode(BlockBody, body),
        qc=_decode(QuorumCert, qc) if qc is not None else None,
    )
