"""What the engine needs from the node, as narrow protocols (the node's chain, state and key)."""

from __future__ import annotations

from typing import Protocol

from app.core.types import Block, Committee


class Signer(Protocol):
    """A member's key; `app.core.crypto.SigningKey` satisfies it."""

    @property
    def public_key(self) -> bytes: ...

    def sign(self, domain: bytes, chain_id: str, message: bytes) -> bytes: ...


class ConsensusApp(Protocol):
    """The node's side of consensus: its view of the chain at the height being decided."""

    def committee(self, height: int) -> Committee:
        """The committee that signs `height` (known once `height - 1` is applied)."""
        ...

    def validate_block(self, block: Block) -> None:
        """Raise a `PotError` (usually `InvalidBlock`) unless `block` extends the local head validly."""
        ...

    def build_block(self, height: int, view: int, proposer: bytes) -> Block:
        """A new block for `height` built by `proposer` in `view`, with `qc` None."""
        ...
