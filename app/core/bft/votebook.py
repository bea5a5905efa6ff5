"""The verified votes of one height: tallies by (view, kind, block) and first-vote-wins equivocation.

Only the first vote of a voter in a (view, kind) slot counts; a later, different one is kept out of
the tallies and turned into `Evidence`. Memory is bounded per voter: a member may hold votes in at most
`max_future_views` views ahead of the engine's view (the highest are kept, since they are what the
view-skip rule needs), so a Byzantine member cannot grow the book by voting in endless future views.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from app.core.types import VOTE_PRECOMMIT, VOTE_PREVOTE, Evidence, Vote

Slot = tuple[int, int]  # (view, kind)


class VoteBook:
    """Votes of one height; the caller verifies signatures and membership before `add`."""

    def __init__(self, max_future_views: int = 8) -> None:
        self._max_future = max_future_views
        self._votes: dict[Slot, dict[bytes, Vote]] = defaultdict(dict)
        self._tally: dict[Slot, Counter[bytes]] = defaultdict(Counter)
        self._views_of: dict[bytes, set[int]] = defaultdict(set)
        self._reported: set[tuple[bytes, int, int]] = set()

    def add(self, vote: Vote, current_view: int) -> tuple[bool, Evidence | None]:
        """Record `vote`; return (whether it counts now, new evidence if it contradicts an earlier vote)."""
        slot = (vote.view, vote.kind)
        earlier = self._votes[slot].get(vote.voter)
        if earlier is not None:
            if earlier.block_hash == vote.block_hash:
                return False, None
            key = (vote.voter, vote.view, vote.kind)
            if key in self._reported:
                return False, None
            self._reported.add(key)
            return False, Evidence(vote_a=earlier, vote_b=vote)
        self._votes[slot][vote.voter] = vote
        self._tally[slot][vote.block_hash] += 1
        self._views_of[vote.voter].add(vote.view)
        self._evict_future(vote.voter, current_view)
        return vote.view in self._views_of[vote.voter], None

    def _evict_future(self, voter: bytes, current_view: int) -> None:
        future = sorted(v for v in self._views_of[voter] if v > current_view)
        for view in future[: max(0, len(future) - self._max_future)]:
            for slot in ((view, VOTE_PREVOTE), (view, VOTE_PRECOMMIT)):
                vote = self._votes[slot].pop(voter, None)
                if vote is not None:
                    self._tally[slot][vote.block_hash] -= 1
            self._views_of[voter].discard(view)

    def count(self, view: int, kind: int, block_hash: bytes) -> int:
        return self._tally[(view, kind)][block_hash]

    def total(self, view: int, kind: int) -> int:
        """Distinct voters of `kind` in `view`, whatever they voted for."""
        return len(self._votes[(view, kind)])

    def votes_for(self, view: int, kind: int, block_hash: bytes) -> list[Vote]:
        return [v for v in self._votes[(view, kind)].values() if v.block_hash == block_hash]

    def hashes_with(self, view: int, kind: int, threshold: int) -> list[bytes]:
        """Block hashes (the zero hash means nil) with at least `threshold` votes of `kind` in `view`."""
        return sorted(h for h, n in self._tally[(view, kind)].items() if n >= threshold)

    def views(self) -> list[int]:
        """Every view in which some vote is held, ascending."""
        return sorted({view for (view, _), votes in self._votes.items() if votes})

    def voters_in(self, view: int) -> int:
        """Distinct members with any vote in `view` (for the view-skip rule)."""
        return len(set(self._votes[(view, VOTE_PREVOTE)]) | set(self._votes[(view, VOTE_PRECOMMIT)]))
