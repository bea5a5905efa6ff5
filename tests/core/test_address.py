"""bech32m addresses: BIP-350 vectors, round trips, and a clear refusal for every bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from app.core.address import (
    bech32m_decode,
    bech32m_encode,
    decode_address,
    encode_address,
    is_valid_address,
)
from app.core.crypto import SigningKey, key_hash
from app.core.errors import InvalidAddress

# BIP-350's generic bech32m test vectors.
VALID_BECH32M = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11" + "l" * 83 + "udsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]
INVALID_BECH32M = [
    "\x201xj0phk",
    "\x7f1g6xzxy",
    "\x801vctc34",
    "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
    "qyrz8wqd2c9m",
    "1qyrz8wqd2c9m",
    "y1b0jsk6g",
    "lt1igcx5c0",
    "in1muywd",
    "mm1crxm3i",
    "au1s5cgom",
    "M1VUXWEZ",
    "16plkw9",
    "1p2gdwpf",
]

ACCOUNT = key_hash(SigningKey.from_seed(bytes(range(32))).public_key)


@pytest.mark.parametrize("text", VALID_BECH32M)
def test_bip350_valid_vectors_decode_and_reencode(text: str) -> None:
    hrp, data = bech32m_decode(text)
    assert bech32m_encode(hrp, data) == text.lower()


@pytest.mark.parametrize("text", INVALID_BECH32M)
def test_bip350_invalid_vectors_are_refused(text: str) -> None:
    with pytest.raises(InvalidAddress):
        bech32m_decode(text)


@given(st.binary(min_size=20, max_size=20), st.sampled_from(["potd", "pott"]))
def test_round_trip(account: bytes, hrp: str) -> None:
    text = encode_address(account, hrp)
    assert text.startswith(hrp + "1") and len(text) == len(hrp) + 1 + 32 + 6
    assert decode_address(text, hrp) == account
    assert decode_address(text.upper(), hrp) == account
    assert decode_address(f"  {text}\n", hrp) == account


@given(st.data())
def test_any_single_character_change_is_caught(data: st.DataObject) -> None:
    text = encode_address(ACCOUNT, "potd")
    pos = data.draw(st.integers(min_value=5, max_value=len(text) - 1))
    new = data.draw(st.sampled_from([c for c in "qpzry9x8gf2tvdw0s3jn54khce6mua7l" if c != text[pos]]))
    with pytest.raises(InvalidAddress, match="checksum"):
        decode_address(text[:pos] + new + text[pos + 1 :], "potd")


def test_foreign_network_prefix_names_both_networks() -> None:
    text = encode_address(ACCOUNT, "pott")
    with pytest.raises(InvalidAddress, match="this is a testnet address, this wallet is on devnet"):
        decode_address(text, "potd")
    assert not is_valid_address(text, "potd")
    assert is_valid_address(text, "pott")


def test_unknown_prefix_is_named() -> None:
    text = bech32m_encode("bc", [0] * 32)
    with pytest.raises(InvalidAddress, match="'bc' is not a PoT address prefix"):
        decode_address(text, "potd")


def test_mixed_case_is_refused() -> None:
    text = encode_address(ACCOUNT, "potd")
    mixed = text[:-1] + text[-1].upper() if text[-1].isalpha() else text[:5].upper() + text[5:]
    with pytest.raises(InvalidAddress, match="mixes upper and lower case"):
        decode_address(mixed, "potd")


def test_wrong_length_is_refused() -> None:
    short = bech32m_encode("potd", [0] * 29)  # 145 bits -> 18 bytes, zero padding
    with pytest.raises(InvalidAddress, match="holds 18 bytes"):
        decode_address(short, "potd")


def test_non_zero_padding_is_refused() -> None:
    exact = bech32m_encode("potd", [0] * 31 + [1])  # exactly 160 bits: no padding at all
    assert decode_address(exact, "potd")[-1] == 1
    padded = bech32m_encode("potd", [0] * 32 + [1])  # 165 bits: 5 leftover bits, non-zero
    with pytest.raises(InvalidAddress, match="padding"):
        decode_address(padded, "potd")


def test_old_bech32_checksum_is_named() -> None:
    # "a12uel5l" is BIP-173's valid bech32 string: right data, wrong (old) checksum constant.
    with pytest.raises(InvalidAddress, match="old bech32 checksum"):
        bech32m_decode("a12uel5l")


@pytest.mark.parametrize("bad", [None, 42, b"potd1qqq"])
def test_non_text_is_refused(bad: object) -> None:
    with pytest.raises(InvalidAddress, match="is text"):
        decode_address(bad, "potd")  # type: ignore[arg-type]


def test_encoder_refuses_wrong_inputs() -> None:
    with pytest.raises(ValueError):
        encode_address(bytes(19), "potd")
    with pytest.raises(ValueError):
        encode_address(ACCOUNT, "POTD")
    with pytest.raises(ValueError):
        encode_address(ACCOUNT, "")
