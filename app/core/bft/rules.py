"""Pure committee rules the engine uses: the leader rotation (`app.core.consensus.leader_for`, shared
with the state machine, re-exported here) and the fault threshold."""

from __future__ import annotations

from app.core.consensus import leader_for
from app.core.types import Committee

__all__ = ["fault_threshold", "leader_for"]


def fault_threshold(committee: Committee) -> int:
    """f + 1: the fewest members of which at least one is honest (M - quorum + 1).

    Seeing that many members in a later view proves an honest member got there, so it is safe to
    skip ahead to that view.
    """
    return len(committee.members) - committee.quorum + 1
