"""Ed25519 signatures with domain separation, and key hashes.

A signature always covers `b"PoT-sig/" + domain + b"\\x00" + chain_id + b"\\x00" + message`, so a
signature made for one chain or one kind of object (a vote, a transaction, a receipt) never verifies
as another.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from app.core.errors import InvalidSignature
from app.core.hashing import DOMAIN_ADDRESS, tagged_hash

SIG_TX = b"tx"
SIG_VOTE = b"vote"
SIG_RECEIPT = b"receipt"
SIG_PROPOSAL = b"proposal"

ADDRESS_LEN = 20


def signing_message(domain: bytes, chain_id: str, message: bytes) -> bytes:
    return b"PoT-sig/" + domain + b"\x00" + chain_id.encode() + b"\x00" + message


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key. Its repr never shows the secret."""

    _key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> "SigningKey":
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        return self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @property
    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def address(self) -> bytes:
        return key_hash(self.public_key)

    def sign(self, domain: bytes, chain_id: str, message: bytes) -> bytes:
        return self._key.sign(signing_message(domain, chain_id, message))

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public_key.hex()[:16]}…)"


def verify(public_key: bytes, signature: bytes, domain: bytes, chain_id: str, message: bytes) -> None:
    """Raise `InvalidSignature` unless `signature` is valid; never raises anything else."""
    if len(public_key) != 32 or len(signature) != 64:
        raise InvalidSignature("malformed key or signature")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, signing_message(domain, chain_id, message)
        )
    except (_CryptoInvalidSignature, ValueError):
        raise InvalidSignature(f"bad {domain.decode()} signature by {public_key.hex()[:16]}") from None


def is_valid(public_key: bytes, signature: bytes, domain: bytes, chain_id: str, message: bytes) -> bool:
    try:
        verify(public_key, signature, domain, chain_id, message)
        return True
    except InvalidSignature:
        return False


def key_hash(public_key: bytes) -> bytes:
    """The 20-byte account id of a public key; addresses are its bech32m form."""
    return tagged_hash(DOMAIN_ADDRESS, public_key)[:ADDRESS_LEN]
