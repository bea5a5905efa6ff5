"""SLIP-0010 hierarchical derivation of Ed25519 keys (hardened only, as Ed25519 requires).

The master node is HMAC-SHA512(key=b"ed25519 seed", seed); a child at hardened index i is
HMAC-SHA512(key=chain_code, 0x00 || private_key || ser32(i + 2^31)); left half = private key (the
Ed25519 seed), right half = chain code. Ed25519 has no public derivation, so every index is hardened.

The project path is m/44'/COIN_TYPE'/account'/role'/index' (BIP44 shape; see accounts.py for roles).
COIN_TYPE is 0x504F54 (ASCII "POT"), not registered in SLIP-44, chosen to be unlikely to collide.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from app.core.crypto import SigningKey
from app.wallet.errors import InvalidDerivationPath

HARDENED = 0x80000000
PURPOSE = 44
COIN_TYPE = 0x504F54
_CURVE_KEY = b"ed25519 seed"
MIN_SEED, MAX_SEED = 16, 64


@dataclass(frozen=True, repr=False)
class Node:
    """A derived private key with its chain code; repr hides both."""

    private_key: bytes
    chain_code: bytes

    def child(self, index: int) -> "Node":
        """The hardened child at `index` (given with or without the hardened bit)."""
        if not 0 <= index < 2 * HARDENED:
            raise InvalidDerivationPath(f"index {index} outside 0..2^32-1")
        data = b"\x00" + self.private_key + (index | HARDENED).to_bytes(4, "big")
        digest = hmac.new(self.chain_code, data, hashlib.sha512).digest()
        return Node(digest[:32], digest[32:])

    def signing_key(self) -> SigningKey:
        return SigningKey.from_seed(self.private_key)

    def __repr__(self) -> str:
        return "Node(<secret>)"


def master(seed: bytes) -> Node:
    """The master node of a BIP39 (64-byte) or other 16-64 byte seed."""
    if not isinstance(seed, bytes) or not MIN_SEED <= len(seed) <= MAX_SEED:
        raise ValueError(f"a SLIP-10 seed is {MIN_SEED} to {MAX_SEED} bytes")
    digest = hmac.new(_CURVE_KEY, seed, hashlib.sha512).digest()
    return Node(digest[:32], digest[32:])


def parse_path(path: str) -> tuple[int, ...]:
    """`m/44'/5263188'/0'` -> hardened indices; every component must be hardened (' or h)."""
    if not isinstance(path, str):
        raise InvalidDerivationPath("a derivation path is text")
    parts = path.strip().split("/")
    if parts[0] != "m":
        raise InvalidDerivationPath("a derivation path starts with 'm'")
    indices = []
    for pos, part in enumerate(parts[1:], start=1):
        if not part.endswith(("'", "h", "H")):
            raise InvalidDerivationPath(f"component {pos} is not hardened; Ed25519 allows only hardened")
        number = part[:-1]
        if not number.isdigit() or not number.isascii() or int(number) >= HARDENED:
            raise InvalidDerivationPath(f"component {pos} is not an index in 0..2^31-1")
        indices.append(int(number) | HARDENED)
    return tuple(indices)


def derive(seed: bytes, path: str | tuple[int, ...]) -> Node:
    """The node at `path` below the master node of `seed`."""
    node = master(seed)
    for index in parse_path(path) if isinstance(path, str) else path:
        node = node.child(index)
    return node


def format_path(indices: tuple[int, ...]) -> str:
    return "/".join(["m"] + [f"{i & ~HARDENED}'" for i in indices])


def project_path(account: int, role: int, index: int) -> str:
    """m/44'/COIN_TYPE'/account'/role'/index'."""
    for name, value in (("account", account), ("role", role), ("index", index)):
        if not 0 <= value < HARDENED:
            raise InvalidDerivationPath(f"{name} {value} outside 0..2^31-1")
    return f"m/{PURPOSE}'/{COIN_TYPE}'/{account}'/{role}'/{index}'"
