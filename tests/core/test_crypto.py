"""Ed25519 with domain separation: what a signature binds, and that garbage only ever fails cleanly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from app.core import crypto
from app.core.errors import InvalidSignature
from app.core.types import NO_SIGNATURE, Transfer, Vote

CHAIN = "testnet"
KEY = crypto.SigningKey.from_seed(bytes(range(32)))
OTHER = crypto.SigningKey.from_seed(bytes(range(1, 33)))
DOMAINS = (crypto.SIG_TX, crypto.SIG_VOTE, crypto.SIG_RECEIPT, crypto.SIG_PROPOSAL)


def test_signature_verifies_for_its_key_domain_chain_and_message() -> None:
    sig = KEY.sign(crypto.SIG_TX, CHAIN, b"message")
    crypto.verify(KEY.public_key, sig, crypto.SIG_TX, CHAIN, b"message")
    assert crypto.is_valid(KEY.public_key, sig, crypto.SIG_TX, CHAIN, b"message")


@pytest.mark.parametrize("signed_as", DOMAINS)
@pytest.mark.parametrize("checked_as", DOMAINS)
def test_signature_of_one_domain_fails_in_every_other(signed_as: bytes, checked_as: bytes) -> None:
    sig = KEY.sign(signed_as, CHAIN, b"same bytes")
    assert crypto.is_valid(KEY.public_key, sig, checked_as, CHAIN, b"same bytes") == (signed_as == checked_as)


@pytest.mark.parametrize("chain", ["testnet2", "Testnet", "", "devnet", "testne"])
def test_signature_for_one_chain_fails_on_another(chain: str) -> None:
    sig = KEY.sign(crypto.SIG_TX, CHAIN, b"m")
    with pytest.raises(InvalidSignature):
        crypto.verify(KEY.public_key, sig, crypto.SIG_TX, chain, b"m")


def test_wrong_key_or_message_fails() -> None:
    sig = KEY.sign(crypto.SIG_TX, CHAIN, b"m")
    with pytest.raises(InvalidSignature):
        crypto.verify(OTHER.public_key, sig, crypto.SIG_TX, CHAIN, b"m")
    with pytest.raises(InvalidSignature):
        crypto.verify(KEY.public_key, sig, crypto.SIG_TX, CHAIN, b"m2")


def test_chain_id_cannot_shift_bytes_into_the_message() -> None:
    """Fields are NUL-separated, so a chain id with NUL is refused rather than made ambiguous."""
    sig = KEY.sign(crypto.SIG_TX, "a", b"b\x00rest")
    assert not crypto.is_valid(KEY.public_key, sig, crypto.SIG_TX, "a\x00b", b"rest")
    with pytest.raises(ValueError):
        KEY.sign(crypto.SIG_TX, "a\x00b", b"rest")


def test_every_bit_of_the_signature_matters() -> None:
    sig = KEY.sign(crypto.SIG_VOTE, CHAIN, b"vote")
    for i in range(len(sig) * 8):
        flipped = bytearray(sig)
        flipped[i // 8] ^= 1 << (i % 8)
        assert not crypto.is_valid(KEY.public_key, bytes(flipped), crypto.SIG_VOTE, CHAIN, b"vote")


def _vote() -> Vote:
    return Vote(
        chain_id=CHAIN, height=5, view=0, kind=2, block_hash=bytes(32), voter=KEY.public_key, signature=NO_SIGNATURE
    ).signed_by(KEY)


def test_record_signature_is_bound_to_its_record_domain() -> None:
    vote = _vote()
    vote.verify_signature()
    # The same signature over the same bytes, checked as a transaction, fails.
    assert not crypto.is_valid(KEY.public_key, vote.signature, crypto.SIG_TX, CHAIN, vote.signing_bytes())
    # A transfer carrying the vote's signature does not verify.
    transfer = Transfer(
        chain_id=CHAIN,
        sender=KEY.public_key,
        nonce=0,
        recipient=bytes(20),
        amount=1,
        fee=1,
        memo="",
        signature=vote.signature,
    )
    with pytest.raises(InvalidSignature):
        transfer.verify_signature()


def test_record_signed_for_another_chain_fails() -> None:
    vote = _vote()
    with pytest.raises(InvalidSignature):
        vote.replace(chain_id="othernet").verify_signature()


def test_signing_with_a_foreign_key_is_refused() -> None:
    with pytest.raises(ValueError):
        _vote().signed_by(OTHER)


GARBAGE = [None, "", "x" * 32, 5, b"", bytes(31), bytes(33), bytearray(32), b"\xff" * 32, bytes(32)]


@pytest.mark.parametrize("key", GARBAGE)
@pytest.mark.parametrize("sig", [None, b"", bytes(63), bytes(65), "s" * 64, bytes(64), b"\xff" * 64])
def test_garbage_keys_and_signatures_raise_only_invalid_signature(key: object, sig: object) -> None:
    with pytest.raises(InvalidSignature):
        crypto.verify(key, sig, crypto.SIG_TX, CHAIN, b"m")  # type: ignore[arg-type]


@pytest.mark.parametrize("chain", [None, b"bytes", "\ud800", "a\x00b"])
def test_garbage_chain_ids_raise_only_invalid_signature(chain: object) -> None:
    sig = KEY.sign(crypto.SIG_TX, CHAIN, b"m")
    with pytest.raises(InvalidSignature):
        crypto.verify(KEY.public_key, sig, crypto.SIG_TX, chain, b"m")  # type: ignore[arg-type]


@settings(max_examples=200)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=64, max_size=64), st.binary(max_size=64))
def test_random_keys_and_signatures_never_verify_nor_crash(key: bytes, sig: bytes, msg: bytes) -> None:
    with pytest.raises(InvalidSignature):
        crypto.verify(key, sig, crypto.SIG_TX, CHAIN, msg)


def test_seed_round_trip_and_length() -> None:
    assert crypto.SigningKey.from_seed(KEY.seed()).public_key == KEY.public_key
    with pytest.raises(ValueError):
        crypto.SigningKey.from_seed(bytes(31))


def test_repr_never_shows_the_secret() -> None:
    assert KEY.seed().hex() not in repr(KEY)
    assert KEY.seed().hex()[:16] not in repr(KEY)


def test_key_hash_is_twenty_bytes_and_distinct() -> None:
    assert len(KEY.address) == crypto.ADDRESS_LEN
    assert KEY.address == crypto.key_hash(KEY.public_key)
    assert KEY.address != OTHER.address


SMALL_ORDER_KEYS = sorted(crypto._SMALL_ORDER_KEYS) + [
    k[:31] + bytes([k[31] | 0x80]) for k in sorted(crypto._SMALL_ORDER_KEYS)
]
IDENTITY_R_ZERO_S = bytes([1]) + bytes(63)


@pytest.mark.parametrize("key", SMALL_ORDER_KEYS, ids=lambda k: k.hex()[:8] + k.hex()[-2:])
def test_small_order_keys_are_refused_because_they_allow_forgery(key: bytes) -> None:
    """Raw OpenSSL accepts a forged signature (R = identity, S = 0) under each of these keys for
    some message; `verify` must refuse every one of them."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = Ed25519PublicKey.from_public_bytes(key)
    forged_for = []
    for n in range(64):
        message = crypto.signing_message(crypto.SIG_TX, CHAIN, bytes([n]))
        try:
            raw.verify(IDENTITY_R_ZERO_S, message)
            forged_for.append(bytes([n]))
        except Exception:
            continue
    assert forged_for, "the forgery should work against raw OpenSSL; the list would be wrong"
    assert crypto.has_small_order(key)
    for message in forged_for:
        with pytest.raises(InvalidSignature, match="small order"):
            crypto.verify(key, IDENTITY_R_ZERO_S, crypto.SIG_TX, CHAIN, message)


def test_ordinary_keys_are_not_small_order() -> None:
    assert not crypto.has_small_order(KEY.public_key)
    assert not crypto.has_small_order(OTHER.public_key)
