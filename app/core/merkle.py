"""Binary Merkle trees with inclusion proofs.

Leaves and inner nodes are hashed under different domains (a leaf can never pose as a node). On a
level with an odd count the last node is promoted unchanged rather than paired with itself, which
avoids Bitcoin's duplicate-leaf ambiguity (CVE-2012-2459). The root commits to the number of leaves:
`root = H_node(count as 8 bytes big-endian || top)`, so a proof binds both the index and the count.
The root of no leaves is 32 zero bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Sequence

from app.core.encoding import Bytes32, MaxLen, Record, Uint64
from app.core.errors import InvalidProof
from app.core.hashing import DOMAIN_MERKLE_LEAF, DOMAIN_MERKLE_NODE, ZERO_HASH, tagged_hash

MAX_PROOF_DEPTH = 64


def leaf_hash(data: bytes) -> bytes:
    return tagged_hash(DOMAIN_MERKLE_LEAF, data)


def node_hash(left: bytes, right: bytes) -> bytes:
    return tagged_hash(DOMAIN_MERKLE_NODE, left + right)


def _seal(count: int, top: bytes) -> bytes:
    return tagged_hash(DOMAIN_MERKLE_NODE, count.to_bytes(8, "big") + top)


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    level = [leaf_hash(d) for d in leaves]
    levels = [level]
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        levels.append(nxt)
        level = nxt
    return levels


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root over the leaves' data (each leaf is hashed here)."""
    if not leaves:
        return ZERO_HASH
    return _seal(len(leaves), _levels(leaves)[-1][0])


@dataclass(frozen=True)
class MerkleProof(Record):
    """Inclusion proof of the leaf at `index` among `leaf_count` leaves."""

    TAG = 40
    index: Uint64
    leaf_count: Uint64
    siblings: Annotated[tuple[Bytes32, ...], MaxLen(MAX_PROOF_DEPTH)]


def merkle_proof(leaves: Sequence[bytes], index: int) -> MerkleProof:
    return merkle_proofs(leaves, [index])[0]


def merkle_proofs(leaves: Sequence[bytes], indices: Sequence[int]) -> list[MerkleProof]:
    """Proofs of several leaves of one tree, hashing the tree once (a block's many history items)."""
    for index in indices:
        if not 0 <= index < len(leaves):
            raise IndexError(f"leaf {index} out of range of {len(leaves)}")
    levels = _levels(leaves)[:-1]
    return [_proof_from(levels, len(leaves), index) for index in indices]


def _proof_from(levels: list[list[bytes]], count: int, index: int) -> MerkleProof:
    siblings: list[bytes] = []
    i = index
    for level in levels:
        sibling = i ^ 1
        if sibling < len(level):
            siblings.append(level[sibling])
        i //= 2
    return MerkleProof(index=index, leaf_count=count, siblings=tuple(siblings))


def verify_proof(root: bytes, leaf_data: bytes, proof: MerkleProof) -> None:
    """Raise `InvalidProof` unless `leaf_data` sits at `proof.index` under `root`."""
    if not 0 <= proof.index < proof.leaf_count:
        raise InvalidProof("index outside the tree")
    node = leaf_hash(leaf_data)
    i, width, used = proof.index, proof.leaf_count, 0
    while width > 1:
        sibling = i ^ 1
        if sibling < width:
            if used >= len(proof.siblings):
                raise InvalidProof("proof too short")
            other = proof.siblings[used]
            used += 1
            node = node_hash(node, other) if i % 2 == 0 else node_hash(other, node)
        i //= 2
        width = (width + 1) // 2
    if used != len(proof.siblings):
        raise InvalidProof("proof has extra siblings")
    if _seal(proof.leaf_count, node) != root:
        raise InvalidProof("proof does not lead to the root")
