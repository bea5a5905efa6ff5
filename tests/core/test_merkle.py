"""Merkle trees: every proof verifies, and every one-byte change of leaf, proof or root breaks it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from app.core.errors import EncodingError, InvalidProof
from app.core.hashing import ZERO_HASH
from app.core.merkle import MerkleProof, leaf_hash, merkle_proof, merkle_root, node_hash, verify_proof

# Distinct leaves: with two equal leaves, "this data at the other index" would be a true claim.
trees = st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=40, unique=True)


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    leaves = draw(trees)
    return leaves, draw(st.integers(0, len(leaves) - 1))


def breaks(root: bytes, leaf: bytes, proof: MerkleProof) -> bool:
    try:
        verify_proof(root, leaf, proof)
    except InvalidProof:
        return True
    return False


def flips(data: bytes) -> list[bytes]:
    """`data` with each byte in turn changed (xor 0x01 and xor 0x80)."""
    out = []
    for i in range(len(data)):
        for mask in (0x01, 0x80):
            changed = bytearray(data)
            changed[i] ^= mask
            out.append(bytes(changed))
    return out


@given(trees)
def test_every_leaf_has_a_verifying_proof(leaves: list[bytes]) -> None:
    root = merkle_root(leaves)
    for i, leaf in enumerate(leaves):
        proof = merkle_proof(leaves, i)
        verify_proof(root, leaf, proof)
        verify_proof(root, leaf, MerkleProof.decode(proof.encode()))


@settings(max_examples=60)
@given(tree_and_index())
def test_every_one_byte_change_breaks_the_proof(case: tuple[list[bytes], int]) -> None:
    leaves, index = case
    root, leaf = merkle_root(leaves), leaves[index]
    proof = merkle_proof(leaves, index)
    for changed in flips(leaf):
        assert breaks(root, changed, proof)
    for changed in flips(root):
        assert breaks(changed, leaf, proof)
    for k, sibling in enumerate(proof.siblings):
        for changed in flips(sibling):
            siblings = proof.siblings[:k] + (changed,) + proof.siblings[k + 1 :]
            assert breaks(root, leaf, proof.replace(siblings=siblings))
    for other in range(len(leaves) + 2):
        if other != index:
            assert breaks(root, leaf, proof.replace(index=other))
    for count in {0, 1, len(leaves) - 1, len(leaves) + 1, 2 * len(leaves), 2**64 - 1} - {len(leaves)}:
        assert breaks(root, leaf, proof.replace(leaf_count=count))


@settings(max_examples=40)
@given(tree_and_index())
def test_every_one_byte_change_of_the_encoded_proof_breaks_it(case: tuple[list[bytes], int]) -> None:
    """On the wire: a changed proof either fails to decode or fails to verify, never passes."""
    leaves, index = case
    root, leaf = merkle_root(leaves), leaves[index]
    data = merkle_proof(leaves, index).encode()
    for changed in flips(data):
        try:
            proof = MerkleProof.decode(changed)
        except EncodingError:
            continue
        assert breaks(root, leaf, proof)


@given(trees, st.binary(min_size=1, max_size=12))
def test_root_commits_to_every_leaf_and_the_count(leaves: list[bytes], extra: bytes) -> None:
    root = merkle_root(leaves)
    assert merkle_root(leaves + [extra]) != root
    if len(leaves) > 1:
        assert merkle_root(leaves[:-1]) != root
        assert merkle_root(list(reversed(leaves))) != root


def test_odd_levels_promote_instead_of_duplicating() -> None:
    """Bitcoin's CVE-2012-2459: [a, b, c] and [a, b, c, c] must not share a root."""
    a, b, c = b"a", b"b", b"c"
    assert merkle_root([a, b, c]) != merkle_root([a, b, c, c])
    assert merkle_root([a, b, c]) != merkle_root([a, b, c, c, c, c])


def test_an_inner_node_cannot_pose_as_a_leaf() -> None:
    """A leaf whose data is the concatenation of two child hashes is hashed as a leaf, not a node."""
    leaves = [b"w", b"x", b"y", b"z"]
    root = merkle_root(leaves)
    fake_leaf = leaf_hash(b"w") + leaf_hash(b"x")
    sibling = node_hash(leaf_hash(b"y"), leaf_hash(b"z"))
    with pytest.raises(InvalidProof):
        verify_proof(root, fake_leaf, MerkleProof(index=0, leaf_count=4, siblings=(sibling,)))
    with pytest.raises(InvalidProof):
        verify_proof(root, fake_leaf, MerkleProof(index=0, leaf_count=2, siblings=(sibling,)))


def test_single_leaf_and_empty_tree() -> None:
    assert merkle_root([]) == ZERO_HASH
    proof = merkle_proof([b"only"], 0)
    assert proof.siblings == ()
    verify_proof(merkle_root([b"only"]), b"only", proof)


@pytest.mark.parametrize("index", [-1, 3, 100])
def test_proof_of_a_missing_leaf_is_refused(index: int) -> None:
    with pytest.raises(IndexError):
        merkle_proof([b"a", b"b", b"c"], index)


def test_proofs_of_the_wrong_length_are_refused() -> None:
    leaves = [bytes([i]) for i in range(5)]
    root, proof = merkle_root(leaves), merkle_proof(leaves, 2)
    with pytest.raises(InvalidProof, match="too short"):
        verify_proof(root, leaves[2], proof.replace(siblings=proof.siblings[:-1]))
    with pytest.raises(InvalidProof, match="extra"):
        verify_proof(root, leaves[2], proof.replace(siblings=proof.siblings + (ZERO_HASH,)))
    with pytest.raises(InvalidProof, match="outside"):
        verify_proof(root, leaves[2], proof.replace(index=5))


def test_oversized_proof_is_refused_on_decode() -> None:
    with pytest.raises(EncodingError):
        MerkleProof(index=0, leaf_count=1, siblings=(ZERO_HASH,) * 65)
