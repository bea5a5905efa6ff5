"""Domain-separated hashing.

Every hash in the protocol is `SHA-256(b"PoT/" + domain + b"\\x00" + data)`, with a distinct domain for
each kind of object, so that bytes hashed for one purpose can never be replayed as another (a Merkle
leaf as an inner node, a receipt as a transaction).
"""

from __future__ import annotations

import hashlib

HASH_LEN = 32
ZERO_HASH = bytes(HASH_LEN)

# The complete list of hash domains; docs/PROTOCOL.md mirrors it.
DOMAIN_TX = b"tx"
DOMAIN_HEADER = b"header"
DOMAIN_RECEIPT = b"receipt"
DOMAIN_TASK = b"task"
DOMAIN_ADDRESS = b"address"
DOMAIN_MERKLE_LEAF = b"merkle-leaf"
DOMAIN_MERKLE_NODE = b"merkle-node"
DOMAIN_STATE_LEAF = b"state-leaf"
DOMAIN_COMMITTEE = b"committee"
DOMAIN_BLOB = b"blob"
DOMAIN_SEED = b"seed"
DOMAIN_CHALLENGE = b"challenge"
DOMAIN_GENESIS = b"genesis"


def tagged_hash(domain: bytes, data: bytes | memoryview) -> bytes:
    """SHA-256 of `data` under `domain`; 32 bytes."""
    h = hashlib.sha256()
    h.update(b"PoT/")
    h.update(domain)
    h.update(b"\x00")
    h.update(data)
    return h.digest()


def blob_hash(data: bytes | memoryview) -> bytes:
    """Content address of a blob (checkpoint, update, dataset shard)."""
    return tagged_hash(DOMAIN_BLOB, data)


def blob_hasher() -> "hashlib._Hash":
    """`blob_hash` fed in pieces: `.update()` each part of the blob in order, then `.digest()`."""
    h = hashlib.sha256()
    h.update(b"PoT/" + DOMAIN_BLOB + b"\x00")
    return h
