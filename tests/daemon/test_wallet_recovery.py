"""A damaged keystore never locks the user out (issue 17 row 6): the daemon starts without a wallet,
reports the file in `status` and its log, and a restore from the seed phrase keeps the damaged file aside
(renamed with the time, byte for byte, never overwritten)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app.daemon.handlers_errors import MethodError
from app.daemon.wallet_service import KEYSTORE, NoWallet, WalletService
from app.log import LOG_NAME
from app.rpc.protocol import RpcError
from app.wallet.keystore import ScryptParams, set_aside
from app.wallet.wallet import Wallet

from .daemon_proc import rpc, start_daemon, stop_daemon, write_config

HRP = "potd"
PASSWORD = "correct horse battery"


def _flip(data: bytes) -> bytes:
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda d: d[: len(d) // 2],
    "flipped_byte": _flip,
    "empty_object": lambda d: b"{}",
    "empty_file": lambda d: b"",
}


def _damaged_keystore(data_dir: Path, damage: str) -> tuple[Path, bytes, str]:
    path = data_dir / KEYSTORE
    path.parent.mkdir(parents=True, exist_ok=True)
    _wallet, phrase = Wallet.create(path, PASSWORD, HRP, words=12, kdf=ScryptParams(log2_n=10))
    bad = DAMAGE[damage](path.read_bytes())
    path.write_bytes(bad)
    return path, bad, phrase


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_keystore_is_reported_not_raised(tmp_path: Path, damage: str) -> None:
    path, bad, _ = _damaged_keystore(tmp_path, damage)
    ws = WalletService(tmp_path, HRP, lambda _key: None, lambda _secret: None)  # used to raise here
    info = ws.info()
    assert info["exists"] is False and info["damaged"]["path"] == str(path)
    assert info["damaged"]["reason"] and "seed phrase" in info["damaged"]["fix"]
    with pytest.raises(NoWallet, match="damaged"):
        ws.unlock(PASSWORD)
    assert path.read_bytes() == bad  # reading it changed nothing


def test_restoring_keeps_the_damaged_file_aside(tmp_path: Path) -> None:
    path, bad, phrase = _damaged_keystore(tmp_path, "flipped_byte")
    ws = WalletService(tmp_path, HRP, lambda _key: None, lambda _secret: None)
    wallet = ws.restore(phrase, PASSWORD, "")
    assert wallet.addresses() == ws.info()["addresses"] and "damaged" not in ws.info()
    kept = [p for p in path.parent.iterdir() if p.name.startswith("wallet.keystore.damaged-")]
    assert len(kept) == 1 and kept[0].read_bytes() == bad
    assert Wallet(path, HRP).addresses() == wallet.addresses()


def test_set_aside_never_overwrites(tmp_path: Path) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    path = tmp_path / "wallet.keystore"
    older = tmp_path / "wallet.keystore.damaged-20260102T030405Z"
    older.write_bytes(b"the first damaged file")
    path.write_bytes(b"the second")
    target = set_aside(path, now)
    assert target.name == "wallet.keystore.damaged-20260102T030405Z-1" and target.read_bytes() == b"the second"
    assert older.read_bytes() == b"the first damaged file" and not path.exists()


def test_the_daemon_starts_reports_and_restores_over_a_truncated_keystore(tmp_path: Path) -> None:
    path, bad, phrase = _damaged_keystore(tmp_path, "truncated")
    write_config(tmp_path, '[mining]\nmode = "never"\npause_on_battery = false\n')
    proc = start_daemon(tmp_path, "--offline")  # used to exit at once: the window could not connect
    try:
        damaged = rpc(tmp_path, "status")["wallet"]["damaged"]
        assert damaged["path"] == str(path) and "truncated" in damaged["reason"]
        log_text = (tmp_path / "logs" / LOG_NAME).read_text()
        assert "WALLET FILE UNUSABLE" in log_text and str(path) in log_text
        with pytest.raises(RpcError) as err:
            rpc(tmp_path, "wallet.unlock", {"password": PASSWORD})
        assert err.value.code == MethodError.NO_WALLET and "damaged" in err.value.message
        restored = rpc(tmp_path, "wallet.restore", {"phrase": phrase, "password": PASSWORD})
        assert restored["addresses"]["spending"].startswith(HRP)
        kept = [p for p in path.parent.iterdir() if p.name.startswith("wallet.keystore.damaged-")]
        assert len(kept) == 1 and kept[0].read_bytes() == bad
        assert "damaged" not in rpc(tmp_path, "status")["wallet"]
    finally:
        stop_daemon(proc)
