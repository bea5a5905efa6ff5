"""The hot reward key: mining resumes after a restart with no password, spending still needs it.

Real keystore files, a real in-memory keyring backend (selected explicitly) and the real no-keyring
fallback file; the daemon's WalletService is restarted by building a fresh one on the same folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.core.crypto import SigningKey
from app.daemon.wallet_service import WalletService
from app.wallet.errors import PasswordRequired, WrongPassword
from app.wallet.hotkey import FILE_NAME, HotKeyStore
from app.wallet.keyring_store import KeyringStore
from app.wallet.keystore import ScryptParams
from app.wallet.wallet import Wallet

from .conftest import HRP, MemoryKeyring

PASSWORD = "correct horse battery"
CHEAP = ScryptParams(log2_n=10)


def _service(datadir: Path, seen: list, hot: HotKeyStore | None = None) -> WalletService:
    return WalletService(datadir, HRP, seen.append, lambda _s: None, hot=hot)


def _seed_wallet(datadir: Path) -> Wallet:
    path = datadir / "wallet" / "wallet.keystore"
    path.parent.mkdir(parents=True)
    wallet, _phrase = Wallet.create(path, PASSWORD, HRP, words=12, kdf=CHEAP)
    return wallet


def test_restart_resumes_mining_without_password_and_send_still_needs_it(tmp_path: Path) -> None:
    wallet = _seed_wallet(tmp_path)
    first: list = []
    ws = _service(tmp_path, first)
    assert not ws.resume(), "never unlocked on this machine: nothing kept yet"
    ws.unlock(PASSWORD)  # once, as after creating the wallet
    hot_file = tmp_path / "wallet" / FILE_NAME
    assert hot_file.exists() and (os.name != "posix" or (hot_file.stat().st_mode & 0o777) == 0o600)
    assert PASSWORD not in hot_file.read_text()

    seen: list = []
    restarted = _service(tmp_path, seen)  # a daemon restart: the keystore is locked
    assert restarted.locked
    assert restarted.resume()
    assert [k.public_key for k in seen] == [wallet.keys.reward.public_key], "the miner got the reward key"
    assert wallet.keys.spending.seed().hex() not in hot_file.read_text(), "the spending key is never kept hot"
    with pytest.raises(PasswordRequired, match="password"):
        restarted.send_key("spending", "")
    with pytest.raises(PasswordRequired):
        restarted.send_key("reward", "")
    with pytest.raises(WrongPassword):
        restarted.send_key("spending", "not the password")
    assert restarted.send_key("spending", PASSWORD).public_key == wallet.keys.spending.public_key
    assert restarted.locked, "a password typed for one send does not unlock the wallet"
    roles = restarted.key_roles()
    assert roles["reward"]["mining_ready"] and "only by you" in roles["reward"]["kept"]

    restarted.lock()  # lock keeps mining with the hot key
    assert seen[-1] is not None
    restarted.forget_hot_key()
    assert seen[-1] is None and not hot_file.exists()
    assert not _service(tmp_path, []).resume()


def test_unlocked_send_still_needs_the_password(tmp_path: Path) -> None:
    """The CLI's hole (issue 16 item 6): an unlocked wallet used to send with no password."""
    _seed_wallet(tmp_path)
    ws = _service(tmp_path, [])
    ws.unlock(PASSWORD)
    with pytest.raises(PasswordRequired):
        ws.send_key("spending", "")


def test_keyring_is_preferred_and_no_file_is_left(tmp_path: Path, memory_keyring: MemoryKeyring) -> None:
    wallet = _seed_wallet(tmp_path)
    store = HotKeyStore(tmp_path / "wallet", KeyringStore(memory_keyring, service="potminer-hotkey"))
    ws = _service(tmp_path, [], hot=store)
    ws.unlock(PASSWORD)
    assert not (tmp_path / "wallet" / FILE_NAME).exists()
    assert store.info(wallet.wallet_id).where == "keyring"
    seen: list = []
    assert _service(tmp_path, seen, hot=store).resume()
    assert seen[0].public_key == wallet.keys.reward.public_key


def test_a_file_others_can_read_or_another_wallets_key_is_refused(tmp_path: Path) -> None:
    wallet = _seed_wallet(tmp_path)
    store = HotKeyStore(tmp_path / "wallet")
    store.save(wallet.wallet_id, SigningKey.generate())  # planted: another key
    assert store.load(wallet.wallet_id, wallet.keys.reward.public_key) is None
    store.save(wallet.wallet_id, wallet.keys.reward)
    assert store.load(wallet.wallet_id, wallet.keys.reward.public_key) is not None
    if os.name == "posix":
        os.chmod(store.file, 0o644)
        assert store.load(wallet.wallet_id, wallet.keys.reward.public_key) is None
    (store.file).write_text("not hex\n")
    os.chmod(store.file, 0o600)
    assert store.load(wallet.wallet_id, wallet.keys.reward.public_key) is None


def test_a_single_key_wallet_is_never_kept_hot(tmp_path: Path) -> None:
    ws = _service(tmp_path, [])
    ws.import_raw_key(SigningKey.generate().seed().hex(), PASSWORD)
    assert not (tmp_path / "wallet" / FILE_NAME).exists()
    assert not _service(tmp_path, []).resume()
    assert ws.key_roles()["single_key"]
