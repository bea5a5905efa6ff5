"""Proven state entries for light clients: one entry, a key's absence, and complete listings by prefix.

The state root (app/core/state.py) is a Merkle root over `state_leaf(key, value)` of every committed
entry sorted by key, and a Merkle proof binds both the leaf's index and the tree's leaf count. So a run
of proven entries at consecutive indices, together with the proven entries just outside it (or the
tree's ends: index 0 and `leaf_count - 1`), shows that nothing else lies between: the listing is
complete. A key's absence is the empty listing of that key with its two neighbours.

A `RangeProof` answers "every key with `prefix` that is >= `start`". `verify_range` checks it against a
state root taken from a verified header and returns the proven entries, or raises `InvalidProof`.
A page may end early (at `MAX_RANGE_ENTRIES`, or at the server's byte budget); it cannot hide that it
did, because its `after` neighbour must be the very next leaf and then carries the prefix, so the page
reads `truncated` and `next_start` says where the next page begins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from app.core.accounts import state_leaf
from app.core.encoding import MaxLen, Record
from app.core.errors import InvalidProof
from app.core.hashing import ZERO_HASH
from app.core.merkle import MerkleProof, verify_proof

# Decoding work per page: 256 proofs of <= 64 siblings. The response size is bounded separately, by
# the server's byte budget (app/net/limits.py STATE_ENTRIES_BUDGET), because values differ a hundredfold.
MAX_RANGE_ENTRIES = 256
# State keys are 1 byte (b"m", b"c", ...) or a prefix byte and a 20- or 32-byte id: 64 leaves room.
MAX_KEY_LEN = 64
# The largest state value: a `SlashedOffences` at its bound (4096 offences) encodes to 172,038 bytes;
# a `TaskState` at the TaskSpec's bounds to 28,107, a full `Committee` to 4,366 (tests check these).
MAX_VALUE_LEN = 192 * 1024


@dataclass(frozen=True)
class EntryProof(Record):
    """One state entry (its key and encoded value) with its inclusion proof against a state root."""

    TAG = 146
    key: Annotated[bytes, MaxLen(MAX_KEY_LEN)]
    value: Annotated[bytes, MaxLen(MAX_VALUE_LEN)]
    proof: MerkleProof

    @property
    def index(self) -> int:
        return self.proof.index

    def verify(self, state_root: bytes) -> None:
        """Raise `InvalidProof` unless (key, value) is the leaf at `proof.index` under `state_root`."""
        verify_proof(state_root, state_leaf(self.key, self.value), self.proof)


@dataclass(frozen=True)
class RangeProof(Record):
    """Every entry with `prefix` and key >= `start` (b"": from the prefix's start), and the neighbours.

    `before` is the entry just before the first key >= max(prefix, start) (None only when that is
    index 0); `after` is the entry just after the last one returned (None only when the tree ends).
    """

    TAG = 147
    prefix: Annotated[bytes, MaxLen(MAX_KEY_LEN)]
    start: Annotated[bytes, MaxLen(MAX_KEY_LEN)]
    entries: Annotated[tuple[EntryProof, ...], MaxLen(MAX_RANGE_ENTRIES)]
    before: EntryProof | None
    after: EntryProof | None


@dataclass(frozen=True)
class RangePage:
    """What a verified `RangeProof` proves: these are all the entries of the range, up to `next_start`."""

    entries: dict[bytes, bytes]  # key -> encoded value, in key order, all with the prefix
    truncated: bool  # more entries with the prefix follow; ask again from `next_start`
    next_start: bytes | None  # the `start` of the next page (None when the listing is complete)


def range_floor(prefix: bytes, start: bytes) -> bytes:
    """The smallest key the range may hold: the range is the keys with `prefix` that are >= this."""
    return max(prefix, start)


def verify_range(state_root: bytes, rp: RangeProof) -> RangePage:
    """Check `rp` against `state_root` (from a verified header); raise `InvalidProof` on any lie or gap."""
    neighbours = [n for n in (rp.before, rp.after) if n is not None]
    proofs = [*rp.entries, *neighbours]
    if not proofs:
        if state_root != ZERO_HASH:
            raise InvalidProof("an empty answer without neighbours from a non-empty state")
        return RangePage(entries={}, truncated=False, next_start=None)
    for p in proofs:
        p.verify(state_root)
    count = proofs[0].proof.leaf_count
    if any(p.proof.leaf_count != count for p in proofs):
        raise InvalidProof("proofs of one range disagree on the leaf count")
    floor = range_floor(rp.prefix, rp.start)
    first = rp.entries[0].index if rp.entries else rp.after.index if rp.after is not None else count
    _check_before(rp.before, first, floor)
    for j, e in enumerate(rp.entries):
        if e.index != first + j:
            raise InvalidProof(f"entry {j} is leaf {e.index}, not {first + j}: a gap in the range")
        if not e.key.startswith(rp.prefix) or e.key < floor:
            raise InvalidProof(f"entry {j} ({e.key.hex()}) lies outside the range asked")
        if j and e.key <= rp.entries[j - 1].key:
            raise InvalidProof(f"entry {j} is not above the one before it")
    truncated = _check_after(rp, first + len(rp.entries), count, floor)
    return RangePage(
        entries={e.key: e.value for e in rp.entries},
        truncated=truncated,
        next_start=rp.after.key if truncated and rp.after is not None else None,
    )


def _check_before(before: EntryProof | None, first: int, floor: bytes) -> None:
    if before is None:
        if first != 0:
            raise InvalidProof(f"no entry before the range, which starts at leaf {first}, not 0")
        return
    if before.index != first - 1:
        raise InvalidProof(f"the entry before the range is leaf {before.index}, not {first - 1}")
    if before.key >= floor:
        raise InvalidProof("the entry before the range lies inside it")


def _check_after(rp: RangeProof, end: int, count: int, floor: bytes) -> bool:
    """Check the neighbour after the last entry (leaf `end`); return whether the page was truncated."""
    after = rp.after
    if after is None:
        if end != count:
            raise InvalidProof(f"no entry after the range, but the tree holds leaves from {end} to {count - 1}")
        return False
    if after.index != end:
        raise InvalidProof(f"the entry after the range is leaf {after.index}, not {end}")
    if after.key < floor or (rp.entries and after.key <= rp.entries[-1].key):
        raise InvalidProof("the entry after the range sorts before its end")
    if not after.key.startswith(rp.prefix):
        return False
    if not rp.entries:
        raise InvalidProof("an empty answer, but the next entry lies inside the range")
    return True


def verify_entry_or_absent(state_root: bytes, rp: RangeProof, key: bytes) -> bytes | None:
    """The value of `key`, or None when `rp` (asked with prefix=key) proves it absent; else `InvalidProof`."""
    if rp.prefix != key or rp.start > key:
        raise InvalidProof(f"the range answers prefix {rp.prefix.hex()} from {rp.start.hex()}, not key {key.hex()}")
    page = verify_range(state_root, rp)
    # `key` is the smallest key with prefix `key`, so it would be the page's first entry.
    return page.entries.get(key)
