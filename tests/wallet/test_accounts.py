"""Key roles, the encrypted payload's format, and the watch-only public part."""

from __future__ import annotations

import json

import pytest

from app.wallet.accounts import KIND_MNEMONIC, KIND_RAW_KEY, WalletSecret, WatchOnly
from app.wallet.errors import InvalidMnemonic, KeystoreCorrupted

PHRASE = "letter advice cage absurd amount doctor acoustic avoid letter advice cage above"


def test_mnemonic_secret_round_trip_and_roles() -> None:
    secret = WalletSecret.from_phrase(PHRASE.upper(), "pp", account=3)
    assert secret.phrase == PHRASE
    again = WalletSecret.from_bytes(secret.to_bytes())
    assert (again.kind, again.phrase, again.passphrase, again.account) == (KIND_MNEMONIC, PHRASE, "pp", 3)
    keys = again.keys()
    assert keys.spending.public_key != keys.reward.public_key
    other_account = WalletSecret.from_phrase(PHRASE, "pp", account=0).keys()
    assert other_account.spending.public_key != keys.spending.public_key


def test_raw_key_plays_both_roles() -> None:
    secret = WalletSecret.from_bytes(WalletSecret.from_private_key_hex("33" * 32).to_bytes())
    watch = secret.keys().watch_only(secret.kind)
    assert secret.kind == KIND_RAW_KEY and watch.spending_public == watch.reward_public
    assert len(watch.accounts()) == 1


def test_watch_only_public_round_trip() -> None:
    watch = WalletSecret.from_phrase(PHRASE).keys().watch_only(KIND_MNEMONIC)
    assert WatchOnly.from_public(watch.to_public()) == watch
    assert watch.spending_address("potd").startswith("potd1") and len(watch.accounts()) == 2


@pytest.mark.parametrize(
    "public",
    [
        {},
        {"kind": "mnemonic", "spending_key": "zz", "reward_key": "00" * 32},
        {"kind": "mnemonic", "spending_key": "00" * 31, "reward_key": "00" * 32},
        {"kind": "other", "spending_key": "00" * 32, "reward_key": "00" * 32},
        {"kind": "mnemonic", "spending_key": 5, "reward_key": "00" * 32},
    ],
)
def test_malformed_public_part(public: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(KeystoreCorrupted, match="public part"):
        WatchOnly.from_public(public)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        json.dumps({"kind": "raw_key", "private_key": "00" * 31}).encode(),
        json.dumps({"kind": "mnemonic", "phrase": "abandon " * 12, "passphrase": "", "account": 0}).encode(),
        json.dumps({"kind": "mnemonic", "phrase": PHRASE, "passphrase": "", "account": "0"}).encode(),
        json.dumps({"kind": "other"}).encode(),
    ],
)
def test_malformed_payload_never_echoes_it(body: bytes) -> None:
    with pytest.raises(KeystoreCorrupted, match="decrypted content is malformed") as info:
        WalletSecret.from_bytes(body)
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_bad_phrase_is_refused_at_construction() -> None:
    with pytest.raises(InvalidMnemonic):
        WalletSecret.from_phrase("abandon " * 12)
