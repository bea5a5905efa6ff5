"""SLIP-0010 Ed25519: the official vectors, path parsing, and the project path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.wallet import hd
from app.wallet.errors import InvalidDerivationPath

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "slip10-ed25519-vectors.json").read_text())
CASES = [(v["seed"], c) for v in VECTORS for c in v["chains"]]


@pytest.mark.parametrize("seed,chain", CASES, ids=[f"{s[:8]}-{c['path']}" for s, c in CASES])
def test_official_vectors(seed: str, chain: dict[str, str]) -> None:
    node = hd.derive(bytes.fromhex(seed), chain["path"])
    assert node.chain_code.hex() == chain["chain_code"]
    assert node.private_key.hex() == chain["private"]
    # SLIP-10 writes Ed25519 public keys with a 0x00 prefix.
    assert "00" + node.signing_key().public_key.hex() == chain["public"]


def test_vectors_cover_both_seeds() -> None:
    assert len(VECTORS) == 2 and len(CASES) == 12


def test_path_round_trip_and_h_notation() -> None:
    path = hd.project_path(0, 1, 7)
    assert path == f"m/44'/{hd.COIN_TYPE}'/0'/1'/7'"
    assert hd.format_path(hd.parse_path(path)) == path
    assert hd.parse_path("m/44h/0H") == hd.parse_path("m/44'/0'")
    assert hd.parse_path("m") == ()


@pytest.mark.parametrize(
    "path,reason",
    [
        ("44'/0'", "starts with 'm'"),
        ("m/44", "not hardened"),
        ("m/44'/x'", "not an index"),
        ("m/-1'", "not an index"),
        ("m/2147483648'", "not an index"),
        ("m//0'", "not hardened"),
    ],
)
def test_bad_paths(path: str, reason: str) -> None:
    with pytest.raises(InvalidDerivationPath, match=reason):
        hd.parse_path(path)


def test_bad_seed_and_indices() -> None:
    with pytest.raises(ValueError):
        hd.master(bytes(15))
    with pytest.raises(ValueError):
        hd.master(bytes(65))
    with pytest.raises(InvalidDerivationPath):
        hd.project_path(-1, 0, 0)
    with pytest.raises(InvalidDerivationPath):
        hd.master(bytes(16)).child(2**32)


def test_repr_hides_secrets() -> None:
    node = hd.master(bytes(32))
    assert node.private_key.hex() not in repr(node) and "secret" in repr(node)
