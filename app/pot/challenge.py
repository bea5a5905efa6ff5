"""Challenges fixed once per (verifier, receipt): a draw that withholding data cannot re-roll.

A verifier's segments for a receipt come from its own Ed25519 signature over the receipt's id.
Ed25519 signing is deterministic (RFC 8032), so asking again gives the same segments: a miner that
withholds a challenged checkpoint and waits gains nothing, because the next attempt challenges the
same checkpoint. The miner cannot predict the draw (it needs the verifier's private key), and anyone
holding the signature can recompute the draw and check it against the verifier's public key, so a
verifier cannot claim after the fact that it challenged something else.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core import crypto
from app.core.hashing import DOMAIN_CHALLENGE, tagged_hash

SIG_CHALLENGE = b"challenge"


@dataclass(frozen=True)
class ChallengeTicket:
    """A verifier's signature over a receipt id: the seed of its draw, checkable by anyone."""

    verifier: bytes
    receipt_id: bytes
    signature: bytes

    def check(self, chain_id: str) -> None:
        """Raise `InvalidSignature` unless `signature` is the verifier's over this receipt id."""
        crypto.verify(self.verifier, self.signature, SIG_CHALLENGE, chain_id, self.receipt_id)


def ticket(key: crypto.SigningKey, chain_id: str, receipt_id: bytes) -> ChallengeTicket:
    """The (deterministic) challenge ticket of `key` for one receipt."""
    return ChallengeTicket(key.public_key, receipt_id, key.sign(SIG_CHALLENGE, chain_id, receipt_id))


def segments_from_ticket(t: ChallengeTicket, n_segments: int, q: int) -> list[int]:
    """`min(q, n)` distinct segment indices, a pure function of the ticket's signature."""
    if n_segments <= 0:
        return []
    want = min(q, n_segments)
    chosen: list[int] = []
    counter = 0
    while len(chosen) < want:
        digest = tagged_hash(DOMAIN_CHALLENGE, t.signature + counter.to_bytes(4, "big"))
        counter += 1
        # 64 bits of the digest reduced mod n: a bias below 2**-40 for any n the protocol allows
        index = int.from_bytes(digest[:8], "big") % n_segments
        if index not in chosen:
            chosen.append(index)
    return sorted(chosen)


def draw_segments(key: crypto.SigningKey, chain_id: str, receipt_id: bytes, n_segments: int, q: int) -> list[int]:
    """The segments `key` challenges in a receipt: always the same ones for the same receipt."""
    return segments_from_ticket(ticket(key, chain_id, receipt_id), n_segments, q)
