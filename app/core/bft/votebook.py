"""The verified votes of one height: tallies by (view, kind, block) and equivocation evidence.

A voter's first vote in a (view, kind) slot always counts. A later, different vote in the same slot
is turned into `Evidence` (once per slot) and also counts, but only if it is for nil or for a block
this member knows from a proposal: the quorum-intersection argument already allows up to f members
to sign anything, so counting an equivocator on both sides is safe, while refusing its second vote
would let it hide the proof of lock that honest members need to unlock (a liveness attack). Unknown
hashes beyond the first are not stored, so a voter cannot grow the book with invented blocks.

Memory is bounded per voter in the other direction too: a member may hold votes in at most
`max_future_views` views ahead of the engine's view (the highest are kept, since they are what the
view-skip rule needs), so a Byzantine member cannot grow the book by voting in endless future views.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from app.core.types import VOTE_PRECOMMIT, VOTE_PREVOTE, Evidence, Vote

Slot = tuple[int, int]  # (view, kind)


class VoteBook:
    """Votes of one height; the caller verifies signatures and membership before `add`."""

    def __init__(self, max_future_views: int = 8) -> None:
        self._max_future = max_future_views
        # slot -> voter -> block hash -> vote; the first entry of a voter is its first vote.
        self._votes: dict[Slot, dict[bytes, dict[bytes, Vote]]] = defaultdict(dict)
        self._views_of: dict[bytes, set[int]] = defaultdict(set)
        self._reported: set[tuple[bytes, int, int]] = set()

    def add(self, vote: Vote, current_view: int, known: Callable[[bytes], bool]) -> Evidence | None:
        """Record `vote`; return evidence if it contradicts this voter's earlier vote in its slot.

        `known(block_hash)` says whether a contradicting vote's block is one worth counting.
        """
        slot = (vote.view, vote.kind)
        mine = self._votes[slot].get(vote.voter)
        if mine is None:
            self._votes[slot][vote.voter] = {vote.block_hash: vote}
            self._views_of[vote.voter].add(vote.view)
            self._evict_future(vote.voter, current_view)
            return None
        if vote.block_hash in mine:
            return None
        first = next(iter(mine.values()))
        if known(vote.block_hash):
            mine[vote.block_hash] = vote
        key = (vote.voter, vote.view, vote.kind)
        if key in self._reported:
            return None
        self._reported.add(key)
        return Evidence(vote_a=first, vote_b=vote)

    def _evict_future(self, voter: bytes, current_view: int) -> None:
        future = sorted(v for v in self._views_of[voter] if v > current_view)
        for view in future[: max(0, len(future) - self._max_future)]:
            self._votes[(view, VOTE_PREVOTE)].pop(voter, None)
            self._votes[(view, VOTE_PRECOMMIT)].pop(voter, None)
            self._views_of[voter].discard(view)

    def holds(self, vote: Vote) -> bool:
        """True if this exact vote is already recorded (a gossip duplicate: no need to verify it again)."""
        return self._votes[(vote.view, vote.kind)].get(vote.voter, {}).get(vote.block_hash) == vote

    def count(self, view: int, kind: int, block_hash: bytes) -> int:
        """Distinct voters with a counted vote for `block_hash` (the zero hash means nil)."""
        return sum(1 for mine in self._votes[(view, kind)].values() if block_hash in mine)

    def total(self, view: int, kind: int) -> int:
        """Distinct voters of `kind` in `view`, whatever they voted for."""
        return len(self._votes[(view, kind)])

    def votes_for(self, view: int, kind: int, block_hash: bytes) -> list[Vote]:
        return [mine[block_hash] for mine in self._votes[(view, kind)].values() if block_hash in mine]

    def hashes_with(self, view: int, kind: int, threshold: int) -> list[bytes]:
        """Block hashes with at least `threshold` distinct voters of `kind` in `view`."""
        hashes = {h for mine in self._votes[(view, kind)].values() for h in mine}
        return sorted(h for h in hashes if self.count(view, kind, h) >= threshold)

    def views(self) -> list[int]:
        """Every view in which some vote is held, ascending."""
        return sorted({view for (view, _), votes in self._votes.items() if votes})

    def voters_in(self, view: int) -> int:
        """Distinct members with any vote in `view` (for the view-skip rule)."""
        return len(set(self._votes[(view, VOTE_PREVOTE)]) | set(self._votes[(view, VOTE_PRECOMMIT)]))
