"""Export then import gives the same addresses; each export needs the password."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.wallet import export
from app.wallet.accounts import ROLE_REWARD, ROLE_SPENDING
from app.wallet.errors import InvalidPrivateKey, KeystoreExists, NoSeedPhrase, WrongPassword
from app.wallet.wallet import Wallet
from tests.wallet.conftest import CHEAP, HRP

PW = "first password"


@pytest.fixture
def wallet(tmp_path: Path) -> Wallet:
    return Wallet.create(tmp_path / "w.json", PW, HRP, passphrase="extra words", kdf=CHEAP)[0]


def test_phrase_export_import(wallet: Wallet, tmp_path: Path) -> None:
    phrase, passphrase = export.export_phrase(wallet, PW)
    assert passphrase == "extra words"
    again = Wallet.restore(tmp_path / "again.json", phrase, "new password", HRP, passphrase, kdf=CHEAP)
    assert again.addresses() == wallet.addresses()


def test_keystore_export_import(wallet: Wallet, tmp_path: Path) -> None:
    export.export_keystore(wallet, PW, tmp_path / "backup.json")
    assert (tmp_path / "backup.json").read_bytes() == wallet.keystore.path.read_bytes()
    if os.name == "posix":
        assert (tmp_path / "backup.json").stat().st_mode & 0o777 == 0o600
    imported = export.import_keystore(tmp_path / "backup.json", tmp_path / "other" / "w.json", PW, HRP)
    assert imported.addresses() == wallet.addresses() and not imported.is_locked


@pytest.mark.parametrize("role", [ROLE_SPENDING, ROLE_REWARD])
def test_raw_key_export_import(wallet: Wallet, tmp_path: Path, role: int) -> None:
    raw = export.export_raw_key(wallet, PW, role)
    assert len(raw) == 64
    imported = export.import_raw_key(tmp_path / "raw.json", raw, PW, HRP, CHEAP)
    expected = wallet.spending_address if role == ROLE_SPENDING else wallet.reward_address
    assert imported.spending_address == imported.reward_address == expected
    assert not imported.has_seed_phrase
    with pytest.raises(NoSeedPhrase, match="no seed phrase"):
        export.export_phrase(imported, PW)
    assert export.export_raw_key(imported, PW) == raw


def test_raw_key_input_forms(tmp_path: Path) -> None:
    a = export.import_raw_key(tmp_path / "a.json", "0x" + "AB" * 32, PW, HRP, CHEAP)
    b = export.import_raw_key(tmp_path / "b.json", " " + "ab" * 32 + "\n", PW, HRP, CHEAP)
    assert a.addresses() == b.addresses()


@pytest.mark.parametrize(
    "bad,message", [("ab" * 31, "this has 62"), ("zz" * 32, "hexadecimal characters"), (None, "64 hexadecimal")]
)
def test_bad_raw_keys(tmp_path: Path, bad: object, message: str) -> None:
    with pytest.raises(InvalidPrivateKey, match=message):
        export.import_raw_key(tmp_path / "k.json", bad, PW, HRP, CHEAP)  # type: ignore[arg-type]
    assert not (tmp_path / "k.json").exists()


def test_every_export_needs_the_password_even_when_unlocked(wallet: Wallet, tmp_path: Path) -> None:
    assert not wallet.is_locked
    before = wallet.keystore.path.read_bytes()
    for action in (
        lambda: export.export_phrase(wallet, "wrong"),
        lambda: export.export_raw_key(wallet, "wrong"),
        lambda: export.export_keystore(wallet, "wrong", tmp_path / "b.json"),
        lambda: export.import_keystore(wallet.keystore.path, tmp_path / "c.json", "wrong", HRP),
    ):
        with pytest.raises(WrongPassword):
            action()
    assert not (tmp_path / "b.json").exists() and not (tmp_path / "c.json").exists()
    assert wallet.keystore.path.read_bytes() == before


def test_imports_never_overwrite(wallet: Wallet, tmp_path: Path) -> None:
    with pytest.raises(KeystoreExists):
        export.import_keystore(wallet.keystore.path, wallet.keystore.path, PW, HRP)
    with pytest.raises(KeystoreExists):
        export.export_keystore(wallet, PW, wallet.keystore.path)
    with pytest.raises(KeystoreExists):
        export.import_raw_key(wallet.keystore.path, "ab" * 32, PW, HRP, CHEAP)
