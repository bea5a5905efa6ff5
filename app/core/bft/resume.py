"""What a restarted member needs to stay live: its valid proposal, that proposal's proof of lock, its own last votes.

The `SigningRecord` keeps a member safe across a restart (it never signs a contradiction), but it holds
only the lock's hash. A member that locked on a block no other member saw a quorum for (its own prevote
was lost with the crash) comes back locked on a block it cannot re-propose: it has neither the block
nor the prevotes that prove the lock, and the others never learn them. With a bare quorum alive the
height then stalls (docs/PROTOCOL.md, Part 6). So the engine also keeps a `ResumeRecord`: the proposal
of the last view in which it saw a quorum prevote a block (Tendermint's valid value), those prevotes,
and the last prevote and precommit it signed. At start the engine takes them back: it re-sends its own
votes, and when it leads it re-proposes the block with its proof of lock, which every member accepts.

The record is a liveness aid, not a safety one: the node saves it (`PersistResumeState`) before the
vote it covers goes out, but a missing or unreadable record only costs that liveness, so the node
starts without it and says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from app.core.encoding import MaxLen, PublicKey32, Record, ShortText, Uint64
from app.core.errors import EncodingError, StorageError
from app.core.types import MAX_COMMITTEE, Proposal, Vote
from app.fsutil import write_atomic


@dataclass(frozen=True)
class ResumeRecord(Record):
    """The member's valid proposal at `height` (None if it saw no quorum prevote one), its POL prevotes, its last votes."""

    TAG = 28
    MAX_SIZE = Proposal.MAX_SIZE + (MAX_COMMITTEE + 2) * 256
    chain_id: ShortText
    member: PublicKey32
    height: Uint64
    proposal: Proposal | None
    pol_votes: Annotated[tuple[Vote, ...], MaxLen(MAX_COMMITTEE)]
    own_votes: Annotated[tuple[Vote, ...], MaxLen(2)]

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.proposal is None and self.pol_votes:
            raise ValueError("prevotes of a proof of lock need the proposal they prove")
        for vote in (*self.pol_votes, *self.own_votes):
            if vote.height != self.height or vote.chain_id != self.chain_id:
                raise ValueError("a resume record holds votes of its own chain and height only")
        if any(v.voter != self.member for v in self.own_votes):
            raise ValueError("own votes must be signed by the record's member")
        if self.proposal is not None and (
            self.proposal.height != self.height or self.proposal.chain_id != self.chain_id
        ):
            raise ValueError("the proposal is for another chain or height")


class ResumeStateStore:
    """One `ResumeRecord` in a file, replaced atomically like the signing record."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> ResumeRecord | None:
        """The saved record, None if none was saved; StorageError if it cannot be read or decoded."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the resume record {self.path}: {exc}") from None
        try:
            return ResumeRecord.decode(data)
        except (EncodingError, ValueError) as exc:
            raise StorageError(f"the resume record {self.path} is corrupt: {exc}") from None

    def save(self, record: ResumeRecord) -> None:
        """Durably replace the saved record."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, record.encode(), mode=0o600)
