"""The member's signing record: what it last signed, kept on disk so a restart never contradicts it.

A committee member that crashes and restarts forgets its votes and its lock; without this record it
could prevote or precommit a different block in a slot it already signed (equivocation: its bond is
slashed, and with f others it could break safety). The engine therefore signs only at a strictly
later (height, view, step) than the record's, restores the record's lock, and before every signed
message asks the node to save the new record (`PersistSigningState`, placed before the broadcast in
the action list). The node saves it with `SigningStateStore.save` and must not broadcast until that
returned. Steps are ordered PROPOSE < PREVOTE < PRECOMMIT, which is the order a member signs in
within a view, so the (height, view, step) of its signatures strictly increases.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from app.core.encoding import Bytes32, PublicKey32, Range, Record, ShortText, Uint64
from app.core.errors import EncodingError, StorageError
from app.fsutil import write_atomic


@dataclass(frozen=True)
class SigningRecord(Record):
    """The last (height, view, step) this member signed, what it signed there, and its lock.

    `step` is a `Step` value (1 proposal, 2 prevote, 3 precommit); `block_hash` is the proposed block
    or the vote's hash (zero for nil). The lock is the view and block hash of its last precommit for
    a block at `height` (None if it holds none). `member` is the signing key, so a record cannot be
    applied to another key by mistake.
    """

    TAG = 27
    MAX_SIZE = 512
    chain_id: ShortText
    member: PublicKey32
    height: Uint64
    view: Uint64
    step: Annotated[int, Range(1, 3)]
    block_hash: Bytes32
    locked_view: Uint64 | None
    locked_hash: Bytes32 | None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.locked_view is None) != (self.locked_hash is None):
            raise ValueError("a lock needs both its view and its block hash")

    @property
    def position(self) -> tuple[int, int, int]:
        """(height, view, step): the engine signs only strictly after this."""
        return (self.height, self.view, self.step)


class SigningStateStore:
    """One `SigningRecord` in a file, replaced atomically (write a temporary file, fsync, rename).

    A crash leaves either the old record or the new one, never a torn file. A record that cannot be
    read raises `StorageError`: starting without it could sign a conflicting vote, so the node must
    refuse to sign until an operator looks (deleting the file is safe only once the chain has moved
    past the recorded height).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> SigningRecord | None:
        """The saved record, or None if none was ever saved."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the signing record {self.path}: {exc}") from None
        try:
            return SigningRecord.decode(data)
        except (EncodingError, ValueError) as exc:
            raise StorageError(f"the signing record {self.path} is corrupt: {exc}") from None

    def save(self, record: SigningRecord) -> None:
        """Durably replace the saved record; returns only once it is on disk."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, record.encode(), mode=0o600)
