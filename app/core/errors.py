"""The exception hierarchy of the chain core.

Every rejection of hostile or malformed input raises a subclass of `PotError` whose class names the
rule that was broken, so callers (peer scoring, RPC, tests) can react to the reason, not to a string.
"""

from __future__ import annotations


class PotError(Exception):
    """Base of every error the chain core raises on purpose."""


class EncodingError(PotError):
    """Bytes that are not the one canonical encoding of a valid value."""


class SizeLimitExceeded(EncodingError):
    """A message, field or block over its size limit."""


class InvalidSignature(PotError):
    """A signature that does not verify under the claimed key and domain."""


class InvalidAddress(PotError):
    """An address with a bad checksum, a foreign network prefix or a wrong length."""


class InvalidProof(PotError):
    """A Merkle proof that does not lead to the claimed root."""


class InvalidTransaction(PotError):
    """A transaction that cannot be applied to the current state."""


class BadNonce(InvalidTransaction):
    """A transaction whose nonce is not the sender's next nonce."""


class InsufficientFunds(InvalidTransaction):
    """A transaction that spends more than the sender's balance."""


class UnknownTask(InvalidTransaction):
    """A reference to a task that does not exist or is no longer open."""


class WrongChain(InvalidTransaction):
    """A signed object made for another chain id."""


class InvalidBlock(PotError):
    """A block that breaks a validity rule."""


class WrongPreviousHash(InvalidBlock):
    """A block that does not link to the current head."""


class WrongStateRoot(InvalidBlock):
    """A block whose declared state root differs from the state its body produces."""


class BlockTooLarge(InvalidBlock, SizeLimitExceeded):
    """A block over the network's maximum block size."""


class InvalidQuorumCertificate(InvalidBlock):
    """A quorum certificate with too few, duplicate or foreign signatures, or a bad one."""


class InvalidReceipt(PotError):
    """A work receipt that is malformed or fails verification; `reason` says which rule."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class StorageError(PotError):
    """The on-disk store is unreadable, inconsistent or from a foreign chain."""


class InvalidConsensusMessage(PotError):
    """A consensus vote or proposal that breaks a rule (bad signature, non-member, wrong leader…)."""


class InvalidVote(InvalidConsensusMessage):
    """A vote that is malformed, foreign, from a non-member, or badly signed."""


class InvalidProposal(InvalidConsensusMessage):
    """A proposal from the wrong leader, badly signed, or whose block is malformed for its slot."""
