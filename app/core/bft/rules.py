"""Pure committee rules the engine and block validation share: the leader and the thresholds."""

from __future__ import annotations

from app.core.types import Committee


def leader_for(committee: Committee, height: int, view: int) -> bytes:
    """The member that proposes at (`height`, `view`): members[(height + view) % M]."""
    if not committee.members:
        raise ValueError("an empty committee has no leader")
    return committee.members[(height + view) % len(committee.members)]


def fault_threshold(committee: Committee) -> int:
    """f + 1: the fewest members of which at least one is honest (M - quorum + 1).

    Seeing that many members in a later view proves an honest member got there, so it is safe to
    skip ahead to that view.
    """
    return len(committee.members) - committee.quorum + 1
