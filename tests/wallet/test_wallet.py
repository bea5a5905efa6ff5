"""The wallet facade: create, restore, watch-only when locked, unlock, lock, change password."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.address import decode_address
from app.core.crypto import key_hash
from app.core.errors import InvalidAddress, PotError
from app.wallet import hd
from app.wallet.accounts import WalletSecret
from app.wallet.errors import (
    InvalidMnemonic,
    KeystoreCorrupted,
    KeystoreExists,
    WalletLocked,
    WeakPassword,
    WrongPassword,
)
from app.wallet.keyring_store import KeyringStore
from app.wallet.wallet import Wallet
from tests.wallet.conftest import CHEAP, HRP, MemoryKeyring

PW, PW2 = "first password", "second password"
PHRASE = "legal winner thank year wave sausage worth useful legal winner thank yellow"


def test_create_returns_phrase_and_unlocked_wallet(tmp_path: Path) -> None:
    wallet, phrase = Wallet.create(tmp_path / "w.json", PW, HRP, kdf=CHEAP)
    assert len(phrase.split()) == 24 and not wallet.is_locked and wallet.has_seed_phrase
    restored = Wallet.restore(tmp_path / "r.json", phrase, "another pw", HRP, kdf=CHEAP)
    assert restored.addresses() == wallet.addresses()


def test_spending_and_reward_keys_follow_the_documented_paths(tmp_path: Path) -> None:
    from app.wallet import mnemonic

    wallet = Wallet.restore(tmp_path / "w.json", PHRASE, PW, HRP, passphrase="TREZOR", kdf=CHEAP)
    seed = mnemonic.to_seed(PHRASE, "TREZOR")
    spend = hd.derive(seed, f"m/44'/{hd.COIN_TYPE}'/0'/0'/0'").signing_key()
    reward = hd.derive(seed, f"m/44'/{hd.COIN_TYPE}'/0'/1'/0'").signing_key()
    assert decode_address(wallet.spending_address, HRP) == key_hash(spend.public_key)
    assert decode_address(wallet.reward_address, HRP) == key_hash(reward.public_key)
    assert wallet.spending_address != wallet.reward_address
    assert wallet.keys.spending.public_key == spend.public_key


def test_passphrase_gives_a_different_wallet(tmp_path: Path) -> None:
    a = Wallet.restore(tmp_path / "a.json", PHRASE, PW, HRP, kdf=CHEAP)
    b = Wallet.restore(tmp_path / "b.json", PHRASE, PW, HRP, passphrase="x", kdf=CHEAP)
    assert a.addresses() != b.addresses()


def test_locked_wallet_is_watch_only(tmp_path: Path) -> None:
    created = Wallet.restore(tmp_path / "w.json", PHRASE, PW, HRP, kdf=CHEAP)
    wallet = Wallet(tmp_path / "w.json", HRP)
    assert wallet.is_locked and wallet.addresses() == created.addresses()
    assert "locked" in repr(wallet)
    with pytest.raises(WalletLocked, match="unlock it"):
        wallet.keys
    wallet.unlock(PW)
    assert wallet.keys.spending.public_key == created.keys.spending.public_key
    wallet.lock()
    assert wallet.is_locked


def test_other_network_shows_its_own_prefix(tmp_path: Path) -> None:
    Wallet.restore(tmp_path / "w.json", PHRASE, PW, HRP, kdf=CHEAP)
    assert Wallet(tmp_path / "w.json", "pott").spending_address.startswith("pott1")
    with pytest.raises(ValueError):
        Wallet(tmp_path / "w.json", "BAD")


def test_bad_inputs_leave_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    wallet = Wallet.restore(path, PHRASE, PW, HRP, kdf=CHEAP)
    before = path.read_bytes()
    with pytest.raises(WrongPassword):
        wallet.unlock("wrong password")
    with pytest.raises(WrongPassword):
        wallet.change_password("wrong password", PW2)
    with pytest.raises(WeakPassword):
        wallet.change_password(PW, "short")
    with pytest.raises(KeystoreExists):
        Wallet.restore(path, PHRASE, PW, HRP, kdf=CHEAP)
    with pytest.raises(InvalidMnemonic, match="checksum"):
        Wallet.restore(tmp_path / "x.json", "abandon " * 12, PW, HRP, kdf=CHEAP)
    assert path.read_bytes() == before and not (tmp_path / "x.json").exists()


def test_new_wallet_refuses_weak_password(tmp_path: Path) -> None:
    with pytest.raises(WeakPassword):
        Wallet.create(tmp_path / "w.json", "1234", HRP, kdf=CHEAP)
    assert not (tmp_path / "w.json").exists()


def test_change_password_and_keyring(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    wallet = Wallet.restore(tmp_path / "w.json", PHRASE, PW, HRP, kdf=CHEAP)
    store = KeyringStore(memory_keyring)
    locked = Wallet(tmp_path / "w.json", HRP)
    assert not locked.unlock_with_keyring(store)  # nothing remembered: ask for the password
    store.remember(wallet.wallet_id, PW)
    assert locked.unlock_with_keyring(store) and not locked.is_locked
    wallet.change_password(PW, PW2, keyring=store)
    assert store.recall(wallet.wallet_id) == PW2  # entry updated, not stale
    fresh = Wallet(tmp_path / "w.json", HRP)
    assert fresh.unlock_with_keyring(store)
    memory_keyring.entries[("potminer", wallet.wallet_id)] = "stale password"
    assert not Wallet(tmp_path / "w.json", HRP).unlock_with_keyring(store)


def test_keyring_left_alone_when_not_remembered(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    wallet = Wallet.restore(tmp_path / "w.json", PHRASE, PW, HRP, kdf=CHEAP)
    wallet.change_password(PW, PW2, keyring=KeyringStore(memory_keyring))
    assert memory_keyring.entries == {}


def test_swapped_public_part_is_detected(tmp_path: Path) -> None:
    """Two keystores under one password: grafting one's public part onto the other fails the AEAD."""
    import json

    a = Wallet.restore(tmp_path / "a.json", PHRASE, PW, HRP, kdf=CHEAP)
    Wallet.from_secret(tmp_path / "b.json", WalletSecret.from_private_key_hex("11" * 32), PW, HRP, CHEAP)
    doc_a = json.loads((tmp_path / "a.json").read_text())
    doc_b = json.loads((tmp_path / "b.json").read_text())
    doc_a["public"] = doc_b["public"]
    (tmp_path / "a.json").write_text(json.dumps(doc_a))
    with pytest.raises(KeystoreCorrupted, match="checksum"):
        Wallet(tmp_path / "a.json", HRP)
    assert a.spending_address  # the unlocked original is unaffected


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x04
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage,action,error,message",
    [
        (None, lambda w, p: w.unlock("wrong password"), WrongPassword, "wrong password"),
        (_corrupt, lambda w, p: Wallet(p, HRP).unlock(PW), KeystoreCorrupted, "damaged|JSON"),
        (_truncate, lambda w, p: Wallet(p, HRP), KeystoreCorrupted, "truncated"),
        (None, lambda w, p: Wallet.restore(p, "abandon " * 12, PW, HRP), InvalidMnemonic, "checksum"),
        (None, lambda w, p: _send(w, w.spending_address[:-1] + "x"), InvalidAddress, "checksum"),
        (None, lambda w, p: _send(w, w.watch_only.spending_address("pott")), InvalidAddress, "testnet address"),
    ],
    ids=["wrong password", "corrupted", "truncated", "bad phrase", "address checksum", "foreign prefix"],
)
def test_must_show_each_bad_input_is_clear_and_file_identical(  # type: ignore[no-untyped-def]
    tmp_path, damage, action, error, message
) -> None:
    path = tmp_path / "w.json"
    wallet = Wallet.restore(path, PHRASE, PW, HRP, kdf=CHEAP)
    if damage:
        damage(path)
    before = path.read_bytes()
    with pytest.raises(error, match=message) as info:
        action(wallet, path)
    assert isinstance(info.value, PotError) and str(info.value)
    assert path.read_bytes() == before


def _send(wallet: Wallet, address: str) -> None:
    from app.wallet.tx import build_transfer

    build_transfer(wallet.keys.spending, "potd-1", HRP, address, 1, 1, 0)


def test_keys_not_matching_public_part_are_refused(tmp_path: Path) -> None:
    """A keystore sealed (with the right password) around keys other than its public part."""
    from app.wallet.keystore import seal

    honest = WalletSecret.from_phrase(PHRASE)
    other = WalletSecret.from_private_key_hex("22" * 32).keys().watch_only("mnemonic").to_public()
    (tmp_path / "w.json").write_bytes(seal(honest.to_bytes(), other, PW, CHEAP))
    wallet = Wallet(tmp_path / "w.json", HRP)
    with pytest.raises(KeystoreCorrupted, match="do not match"):
        wallet.unlock(PW)
    assert wallet.is_locked


def test_keystore_replaced_after_opening_is_refused(tmp_path: Path) -> None:
    """A wallet opened (and showing its addresses) must not unlock a different file swapped in."""
    wallet = Wallet.restore(tmp_path / "w.json", PHRASE, PW, HRP, kdf=CHEAP)
    shown = Wallet(tmp_path / "w.json", HRP)
    other = Wallet.from_secret(tmp_path / "o.json", WalletSecret.from_private_key_hex("44" * 32), PW, HRP, CHEAP)
    (tmp_path / "w.json").write_bytes(other.keystore.path.read_bytes())
    with pytest.raises(KeystoreCorrupted, match="changed since the wallet was opened"):
        shown.unlock(PW)
    assert shown.is_locked and wallet.spending_address == shown.spending_address
