"""The SQLite chain store: round trips, indexes, state diffs, refusals, threads and SIGKILL safety."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from app.core import crypto
from app.core.errors import StorageError
from app.core.hashing import ZERO_HASH
from app.core.storage import (
    MAX_HEADERS_PER_QUERY,
    SCHEMA_VERSION,
    ChainLinkError,
    CorruptStoreError,
    ForeignChainError,
    InvalidQuery,
    SchemaTooNewError,
    Store,
    StoreClosed,
)
from app.core.types import NO_SIGNATURE, Block, QuorumCert, VoteSignature
from tests.core.crash_writer import SQL_MARKERS, build_block, expected_state

CHAIN = "testchain"
REPO = Path(__file__).resolve().parents[2]


def small_block(height: int, prev_hash: bytes, chain_id: str = CHAIN) -> Block:
    """A three-transaction block from the crash writer's builder."""
    return build_block(chain_id, height, prev_hash, big=False)


def chain_of(store: Store, count: int) -> list[Block]:
    """Commit genesis and `count - 1` small blocks."""
    blocks = [small_block(0, ZERO_HASH)]
    store.commit_genesis(blocks[0], {b"h": b"0"})
    while len(blocks) < count:
        h = len(blocks)
        block = small_block(h, blocks[-1].block_hash)
        store.commit_block(block, {b"h": str(h).encode()})
        blocks.append(block)
    return blocks


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "chain.db", CHAIN) as s:
        yield s


# --------------------------------------------------------------------------- round trips


def test_empty_store_has_no_head(store: Store) -> None:
    assert store.head() is None
    assert store.block_by_height(0) is None
    assert store.state_entries() == {}
    assert store.schema_version() == SCHEMA_VERSION


def test_blocks_round_trip_by_height_and_hash(store: Store) -> None:
    blocks = chain_of(store, 4)
    head = store.head()
    assert head is not None and (head.height, head.hash) == (3, blocks[3].block_hash)
    for b in blocks:
        assert store.block_by_height(b.header.height) == b
        assert store.block_by_hash(b.block_hash) == b
        assert store.height_of(b.block_hash) == b.header.height
        assert store.header_by_height(b.header.height) == b.header
    assert store.block_by_height(4) is None
    assert store.block_by_hash(bytes(32)) is None
    assert store.height_of(bytes(32)) is None


def test_quorum_certificate_is_kept(store: Store) -> None:
    genesis = small_block(0, ZERO_HASH)
    store.commit_genesis(genesis, {})
    block = small_block(1, genesis.block_hash)
    qc = QuorumCert(
        chain_id=CHAIN,
        height=1,
        view=0,
        block_hash=block.block_hash,
        signatures=(VoteSignature(voter=bytes(range(32)), signature=NO_SIGNATURE),),
    )
    block = block.replace(qc=qc)
    store.commit_block(block, {})
    assert store.block_by_height(1) == block
    signed = store.signed_headers_range(0, 2)
    assert [s.qc for s in signed] == [None, qc]


def test_headers_range_is_contiguous_and_stops_at_head(store: Store) -> None:
    blocks = chain_of(store, 5)
    assert store.headers_range(1, 3) == [b.header for b in blocks[1:4]]
    assert store.headers_range(3, 100) == [b.header for b in blocks[3:]]
    assert store.headers_range(9, 10) == []


@pytest.mark.parametrize("start,count", [(-1, 1), (0, 0), (0, MAX_HEADERS_PER_QUERY + 1), (True, 1), (0, "3")])
def test_headers_range_rejects_bad_arguments(store: Store, start: object, count: object) -> None:
    with pytest.raises(InvalidQuery):
        store.headers_range(start, count)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- state


def test_state_is_updated_by_diff(store: Store) -> None:
    genesis = small_block(0, ZERO_HASH)
    store.commit_genesis(genesis, {b"a": b"1", b"b": b"2", b"c": b"3"})
    b1 = small_block(1, genesis.block_hash)
    store.commit_block(b1, {b"a": b"1", b"b": b"22", b"d": b"4"})
    assert store.state_entries() == {b"a": b"1", b"b": b"22", b"d": b"4"}
    assert store.state_value(b"b") == b"22"
    assert store.state_value(b"c") is None
    with pytest.raises(InvalidQuery):
        store.state_value("b")  # type: ignore[arg-type]


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.binary(min_size=1, max_size=3), st.binary(max_size=4), max_size=12),
        min_size=1,
        max_size=5,
    )
)
def test_any_sequence_of_states_reads_back_exactly(states: list[dict[bytes, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chain.db"
        with Store(path, CHAIN) as s:
            prev = small_block(0, ZERO_HASH)
            s.commit_genesis(prev, states[0])
            for h, entries in enumerate(states[1:], start=1):
                block = small_block(h, prev.block_hash)
                s.commit_block(block, entries)
                prev = block
                assert s.state_entries() == entries
        # A reopened store diffs against what is on disk, not a stale cache.
        with Store(path, CHAIN) as s:
            assert s.state_entries() == states[-1]
            s.commit_block(small_block(len(states), prev.block_hash), {b"only": b"this"})
            assert s.state_entries() == {b"only": b"this"}


@pytest.mark.parametrize("entries", [{"k": b"v"}, {b"k": "v"}, {b"k": None}, [(b"k", b"v")]])
def test_state_entries_must_map_bytes_to_bytes(store: Store, entries: object) -> None:
    with pytest.raises(InvalidQuery):
        store.commit_genesis(small_block(0, ZERO_HASH), entries)  # type: ignore[arg-type]
    assert store.head() is None


# --------------------------------------------------------------------------- indexes


def test_wallet_indexes(store: Store) -> None:
    blocks = chain_of(store, 5)
    recipient = blocks[1].body.transactions[0].recipient
    sender_key = blocks[4].body.transactions[0].sender
    history = store.txs_by_address(recipient)
    expected = [
        (b.header.height, i, tx)
        for b in blocks
        for i, tx in enumerate(b.body.transactions)
        if tx.recipient == recipient
    ]
    assert [(e.height, e.position, e.tx) for e in history] == sorted(expected, reverse=True, key=lambda t: t[:2])
    sent = store.txs_by_address(crypto.key_hash(sender_key))
    assert [e.tx for e in sent] == list(reversed(blocks[4].body.transactions))
    assert store.txs_by_address(recipient, limit=1, offset=1)[0] == history[1]
    assert store.txs_by_address(bytes(20)) == []

    tx = blocks[2].body.transactions[1]
    found = store.tx_by_id(tx.tx_id)
    assert found is not None and (found.height, found.position, found.tx) == (2, 1, tx)
    assert store.tx_by_id(bytes(32)) is None

    miner_address = blocks[1].body.rewards[0].recipient
    rewards = store.rewards_by_address(miner_address)
    assert [r.reward for r in rewards] == [b.body.rewards[0] for b in reversed(blocks[1:])]
    receipts = store.receipts_by_address(miner_address)
    assert [r.height for r in receipts] == [4, 3, 2, 1]

    task_id = blocks[3].body.receipts[0].task_id
    in_round = store.receipts_by_task(task_id, 3)
    assert [r.receipt for r in in_round] == [blocks[3].body.receipts[0]]
    assert store.receipts_by_task(task_id, 99) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.txs_by_address(bytes(19)),
        lambda s: s.txs_by_address(bytes(20), limit=0),
        lambda s: s.txs_by_address(bytes(20), offset=-1),
        lambda s: s.rewards_by_address("ab" * 10),
        lambda s: s.receipts_by_address(bytes(21)),
        lambda s: s.receipts_by_task(bytes(32), -1),
        lambda s: s.receipts_by_task(bytes(31), 0),
        lambda s: s.block_by_hash(b"short"),
        lambda s: s.height_of(None),
        lambda s: s.block_by_height(-1),
        lambda s: s.block_by_height(1.0),
        lambda s: s.tx_by_id(bytes(33)),
    ],
)
def test_readers_reject_bad_arguments(store: Store, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidQuery):
        call(store)


# --------------------------------------------------------------------------- refusals


def test_block_before_genesis_is_refused(store: Store) -> None:
    with pytest.raises(ChainLinkError):
        store.commit_block(small_block(1, ZERO_HASH), {})


def test_second_genesis_is_refused(store: Store) -> None:
    store.commit_genesis(small_block(0, ZERO_HASH), {b"a": b"1"})
    with pytest.raises(ChainLinkError):
        store.commit_genesis(small_block(0, bytes([1]) * 32), {b"b": b"2"})
    assert store.state_entries() == {b"a": b"1"}


def test_genesis_must_be_height_zero(store: Store) -> None:
    with pytest.raises(ChainLinkError):
        store.commit_genesis(small_block(1, ZERO_HASH), {})


@pytest.mark.parametrize("height,prev", [(2, "head"), (1, "zero"), (0, "head")])
def test_block_that_does_not_extend_the_head_changes_nothing(store: Store, height: int, prev: str) -> None:
    genesis = small_block(0, ZERO_HASH)
    store.commit_genesis(genesis, {b"a": b"1"})
    block = small_block(height, genesis.block_hash if prev == "head" else ZERO_HASH)
    with pytest.raises(ChainLinkError):
        store.commit_block(block, {b"a": b"2"})
    head = store.head()
    assert head is not None and head.height == 0
    assert store.state_entries() == {b"a": b"1"}
    recipient = block.body.transactions[0].recipient
    stored = [e.tx for e in store.txs_by_address(recipient)]
    assert stored == [tx for tx in reversed(genesis.body.transactions) if tx.recipient == recipient]
    store.check_integrity()


def test_block_of_another_chain_is_refused(store: Store) -> None:
    with pytest.raises(ForeignChainError):
        store.commit_genesis(small_block(0, ZERO_HASH, chain_id="other"), {})


def test_non_block_is_refused(store: Store) -> None:
    with pytest.raises(InvalidQuery):
        store.commit_genesis(small_block(0, ZERO_HASH).header, {})  # type: ignore[arg-type]


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    with Store(path, CHAIN) as s:
        blocks = chain_of(s, 3)
    with Store(path, CHAIN) as s:
        assert s.block_by_height(2) == blocks[2]
        assert s.state_entries() == {b"h": b"2"}
        s.check_integrity()


def test_database_of_another_chain_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    Store(path, CHAIN).close()
    with pytest.raises(ForeignChainError, match="testchain"):
        Store(path, "mainnet")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    Store(path, CHAIN).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNewError):
        Store(path, CHAIN)


def test_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(CorruptStoreError):
        Store(path, CHAIN)


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        Store(tmp_path / "nope" / "chain.db", CHAIN)


@pytest.mark.parametrize("chain_id", ["", None, 7])
def test_bad_chain_id_is_refused(tmp_path: Path, chain_id: object) -> None:
    with pytest.raises(InvalidQuery):
        Store(tmp_path / "chain.db", chain_id)  # type: ignore[arg-type]


def test_tampered_row_is_reported_as_corruption(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    with Store(path, CHAIN) as s:
        chain_of(s, 2)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE blocks SET body = ? WHERE height = 1", (b"\x18\x01",))
    with Store(path, CHAIN) as s:
        with pytest.raises(CorruptStoreError):
            s.block_by_height(1)


def test_use_after_close_is_refused(tmp_path: Path) -> None:
    s = Store(tmp_path / "chain.db", CHAIN)
    s.close()
    with pytest.raises(StoreClosed):
        s.head()


# --------------------------------------------------------------------------- threads


def test_readers_in_other_threads_see_whole_blocks_while_a_writer_commits(store: Store) -> None:
    blocks = chain_of(store, 1)
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                head = store.head()
                assert head is not None
                block = store.block_by_height(head.height)
                assert block is not None and block.block_hash == head.hash
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for h in range(1, 12):
        block = small_block(h, blocks[-1].block_hash)
        store.commit_block(block, {b"h": bytes([h])})
        blocks.append(block)
    done.set()
    for t in threads:
        t.join()
    assert errors == []
    assert store.head().height == 11  # type: ignore[union-attr]


# --------------------------------------------------------------------------- crash safety


def _committed(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("committed ")]


def _begun(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("begin ")]


def _check_store_after_crash(path: Path, reported: int, begun: int) -> int:
    with Store(path, "crashnet") as s:
        s.check_integrity()
        head = s.head()
        if head is None:  # killed inside the genesis commit: nothing was reported, so nothing is lost
            assert reported < 0, f"block {reported} was reported committed but the store is empty"
            return -1
        assert reported <= head.height <= max(reported, begun), (reported, head.height, begun)
        assert s.state_entries() == expected_state(head.height)
        prev = ZERO_HASH
        for h in range(head.height + 1):
            block = s.block_by_height(h)
            assert block is not None and block.header.prev_hash == prev
            assert block == build_block("crashnet", h, prev)
            prev = block.block_hash
        assert prev == head.hash
        return head.height


def test_sigkill_at_random_points_loses_nothing_committed(tmp_path: Path) -> None:
    """Kill the writer at each marked statement inside the transaction, then at random times."""
    path = tmp_path / "chain.db"
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    reported = -1
    targets: list[str | None] = [f"sql {m}" for m in SQL_MARKERS] + [None, None]
    killed_inside_commit = 0
    for target in targets:
        skip = rng.randint(0, 2)  # let a few commits pass so kills hit different blocks
        hold = {} if target is None else {"CRASH_WRITER_HOLD_AT": target[4:], "CRASH_WRITER_HOLD_AFTER": str(skip)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.core.crash_writer", "store", str(path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **hold},  # the writer waits inside the transaction at the target for our kill
        )
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline().strip()
            assert line, f"writer exited early (seed {seed})"
            lines.append(line)
            if target is None and line.startswith("committed "):
                time.sleep(rng.uniform(0.0, 0.4))
                break
            if line == target:
                if skip == 0:
                    break
                skip -= 1
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        lines += [line.strip() for line in rest.splitlines() if line.strip()]
        committed, begun = _committed(lines), _begun(lines)
        reported = max([reported, *committed])
        last_begun = max(begun, default=reported)
        head = _check_store_after_crash(path, reported, last_begun)
        killed_inside_commit += head < last_begun
        reported = max(reported, head)
    assert killed_inside_commit >= len(SQL_MARKERS), f"kills missed the transaction (seed {seed})"
