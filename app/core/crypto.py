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

# Encodings of the eight points of small order and their non-canonical aliases (the sign bit is
# ignored), as libsodium's ge25519_has_small_order lists them. OpenSSL accepts these keys, and under
# them a signature with R = identity and S = 0 verifies for a large share of all messages, so anyone
# could "sign" for such a key; refusing them also keeps this node in step with libsodium-based ones.
_SMALL_ORDER_KEYS = frozenset(
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    )
)


def has_small_order(public_key: bytes) -> bool:
    """True for a 32-byte key that encodes a point of small order (one no signature can bind)."""
    return public_key[:31] + bytes([public_key[31] & 0x7F]) in _SMALL_ORDER_KEYS


def signing_message(domain: bytes, chain_id: str, message: bytes) -> bytes:
    # NUL separates the fields, so a chain id holding one could shift bytes between chain id and
    # message ("a\x00b" + m would sign what "a" + b"b\x00" + m signs).
    if "\x00" in chain_id:
        raise ValueError("a chain id cannot contain NUL")
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
    if not isinstance(public_key, bytes) or not isinstance(signature, bytes) or not isinstance(chain_id, str):
        raise InvalidSignature("key and signature must be bytes, the chain id text")
    if len(public_key) != 32 or len(signature) != 64:
        raise InvalidSignature("malformed key or signature")
    if has_small_order(public_key):
        raise InvalidSignature(f"public key {public_key.hex()[:16]} has small order")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signing_message(domain, chain_id, message))
    except (_CryptoInvalidSignature, ValueError, TypeError):
        raise InvalidSignature(f"bad {domain!r} signature by {public_key.hex()[:16]}") from None


def is_valid(public_key: bytes, signature: bytes, domain: bytes, chain_id: str, message: bytes) -> bool:
    try:
        verify(public_key, signature, domain, chain_id, message)
        return True
    except InvalidSignature:
        return False


def key_hash(public_key: bytes) -> bytes:
    """The 20-byte account id of a public key; addresses are its bech32m form."""
    return tagged_hash(DOMAIN_ADDRESS, public_key)[:ADDRESS_LEN]
