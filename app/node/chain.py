"""The chain manager: the one writer of a node's store, and the holder of its head state.

Every block enters through `commit`, which validates it against the head (QC included) and writes
block and state in one SQLite transaction; the head state is swapped only after the write, so a
killed process resumes from the store at exactly the last final block. Readers (network providers on
the network thread) see an immutable `ChainState`, so they need no lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from app.core.accounts import UnknownAccount
from app.core.entryproof import RangeProof
from app.core.genesis import Genesis, genesis_block
from app.core.history import HistoryItem
from app.core.state import ChainState
from app.core.storage import Store
from app.core.types import Block, SignedHeader
from app.core.validation import validate_block
from app.node.history import history_items

log = logging.getLogger(__name__)


class GenesisMismatch(RuntimeError):
    """The store in the data directory was created from another genesis document."""


class ChainManager:
    """Store + head state of one node; `commit` is the only way the head moves."""

    def __init__(self, store: Store, genesis: Genesis) -> None:
        self.store = store
        self.genesis = genesis
        self.params = genesis.params
        self._lock = threading.Lock()
        block0, state0 = genesis_block(genesis)
        self.genesis_hash = block0.block_hash
        head = store.head()
        if head is None:
            store.commit_genesis(block0, state0.entries())
            self.state = state0
        else:
            stored0 = store.block_by_height(0)
            if stored0 is None or stored0.block_hash != block0.block_hash:
                raise GenesisMismatch(f"{store.path} holds another chain's genesis")
            self.state = ChainState.from_entries(self.params, store.state_entries())
            log.info("resumed at height %d", self.state.height)

    @classmethod
    def open(cls, path: Path, genesis: Genesis) -> "ChainManager":
        return cls(Store(path, genesis.params.chain_id), genesis)

    @property
    def height(self) -> int:
        return self.state.height

    @property
    def head_hash(self) -> bytes:
        return self.state.head_hash

    def commit(self, block: Block, *, check_clock: bool = False) -> ChainState:
        """Validate `block` (with its QC) on the head, store it atomically, and return the new head state."""
        with self._lock:
            now = int(time.time() * 1000) if check_clock else None
            new_state = validate_block(self.state, block, require_qc=True, now_ms=now)
            self.store.commit_block(block, new_state.entries())
            self.state = new_state
            return new_state

    def trial(self, block: Block) -> ChainState:
        """The state `block` (a proposal, no QC) would produce on the head; raises if it is invalid."""
        return validate_block(self.state, block, require_qc=False, now_ms=int(time.time() * 1000))

    # ------------------------------------------------------------------ providers for peers

    def signed_headers(self, start: int, count: int) -> list[SignedHeader]:
        if start > self.state.height:
            return []
        return self.store.signed_headers_range(start, min(count, 256))

    def block(self, height: int | None, block_hash: bytes | None) -> Block | None:
        if height is not None:
            return self.store.block_by_height(height)
        assert block_hash is not None
        return self.store.block_by_hash(block_hash)

    def state_proof(self, address: bytes) -> bytes | None:
        """The encoded AccountProof of `address` against the head's state root (None if it holds nothing)."""
        try:
            return self.state.prove_account(address).encode()
        except UnknownAccount:
            return None

    def state_entries(self, queries: Sequence[tuple[bytes, bytes]], max_bytes: int) -> tuple[int, list[RangeProof]]:
        """Proven ranges `(prefix, start)` of the head state, within about `max_bytes` in all.

        One head for all of them (read once: a commit may swap it meanwhile). Each range gets an even
        share of the budget for its page; a range that would pass the whole budget (only possible with
        values near their bounds) is left out with those after it, and the client asks again.
        """
        state = self.state
        share = max_bytes // max(1, len(queries))
        ranges: list[RangeProof] = []
        used = 0
        for prefix, start in queries:
            proof = state.prove_range(prefix, start, max_bytes=share)
            size = len(proof.encode())
            if ranges and used + size > max_bytes:
                break
            ranges.append(proof)
            used += size
        return state.height, ranges

    def history(self, address: bytes, limit: int, before_height: int | None) -> list[HistoryItem]:
        """`address`'s transactions with inclusion proofs, newest first (the `history` protocol)."""
        return history_items(self.store, address, limit, before_height)

    def close(self) -> None:
        self.store.close()
