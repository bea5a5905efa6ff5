"""The daemon methods the window needs beyond the CLI's: address check, fee, devices, a send signed with
the password typed, finer error details, block times in the history, committee in the status.

A real `potminer daemon --offline` process answers what needs no node; the send path runs in-process on
the real WalletService and handler with a node double that records what would be submitted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from app.core.address import encode_address
from app.core.crypto import SigningKey
from app.daemon import handlers_wallet
from app.daemon.handlers_errors import MethodError
from app.daemon.wallet_service import WalletService
from app.rpc.protocol import RpcError
from app.wallet.keystore import ScryptParams
from app.wallet.wallet import Wallet

from .daemon_proc import rpc, start_daemon, stop_daemon, write_config

PASSWORD = "correct horse battery"
HRP = "potd"


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    datadir = tmp_path_factory.mktemp("d")
    write_config(datadir, '[mining]\nmode = "never"\npause_on_battery = false\n')
    proc = start_daemon(datadir, "--offline")
    yield datadir
    stop_daemon(proc)


def test_check_address_says_why_an_address_is_wrong(offline: Path) -> None:
    good = encode_address(SigningKey.generate().address, HRP)
    assert rpc(offline, "wallet.check_address", {"address": f"  {good} "}) == {
        "address": good,
        "valid": True,
        "reason": "",
    }
    typo = good[:-1] + ("q" if good[-1] != "q" else "p")
    bad = rpc(offline, "wallet.check_address", {"address": typo})
    assert bad["valid"] is False and "checksum" in bad["reason"]
    other_net = encode_address(SigningKey.generate().address, "pot")
    assert "potd" in rpc(offline, "wallet.check_address", {"address": other_net})["reason"]
    assert rpc(offline, "wallet.check_address", {"address": ""})["valid"] is False


def test_fee_estimate_devices_and_mining_fields(offline: Path) -> None:
    fee = rpc(offline, "wallet.fee_estimate")
    assert fee == {"fee": 1000, "fee_text": "0.000001 POT"}
    found = rpc(offline, "mine.devices")
    assert found["selected"] == "auto"
    assert found["devices"][-1]["id"] == "cpu" and found["devices"][-1]["memory_bytes"] > 0
    assert {d["id"] for d in found["devices"]} <= {"cpu", "cuda", "mps"}
    state = rpc(offline, "mine.state")
    for name in ("loss_curve", "device", "device_load", "temperature_c", "model"):
        assert name in state
    assert state["loss_curve"] == []


def test_send_offline_says_what_to_do(offline: Path) -> None:
    with pytest.raises(RpcError) as err:
        rpc(offline, "wallet.send", {"to": "x", "amount": "1", "password": PASSWORD})
    assert err.value.code == MethodError.NODE_OFFLINE


# -- the send path in-process -------------------------------------------------------------------
class Server:
    def __init__(self) -> None:
        self.methods: dict[str, Any] = {}

    def register(self, name: str, fn: Any, schema: dict[str, Any]) -> None:
        self.methods[name] = fn


class NodeDouble:
    """What `wallet.send` and `wallet.history` read of the node port: balances, blocks; records submits."""

    chain_id = "pot-devnet"
    hrp = HRP

    def __init__(self, balances: dict[bytes, int]) -> None:
        accounts = {a: SimpleNamespace(balance=b, nonce=0) for a, b in balances.items()}
        self.state = SimpleNamespace(account=lambda a: accounts.get(a, SimpleNamespace(balance=0, nonce=0)))
        self.submitted: list[Any] = []
        self.rewards: dict[bytes, list[Any]] = {}

    def account_for_sending(self, public_key: bytes) -> tuple[int, int]:
        """(balance, next nonce), as NodePort's with an empty mempool."""
        from app.core.crypto import key_hash

        account = self.state.account(key_hash(public_key))
        return account.balance, account.nonce

    def submit(self, tx: Any) -> bytes:
        self.submitted.append(tx)
        return tx.tx_id

    def txs_of(self, address: bytes, limit: int) -> list[Any]:
        return []

    def rewards_of(self, address: bytes, limit: int) -> list[Any]:
        return self.rewards.get(address, [])

    def header(self, height: int) -> Any:
        return SimpleNamespace(timestamp_ms=1_700_000_000_000 + height * 1000)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Server, WalletService, NodeDouble]]:
    keys_seen: list[Any] = []
    ws = WalletService(tmp_path, HRP, keys_seen.append, lambda _secret: None)
    path = tmp_path / "wallet" / "wallet.keystore"
    path.parent.mkdir(parents=True)
    Wallet.create(path, PASSWORD, HRP, words=12, kdf=ScryptParams(log2_n=10))
    ws._wallet = Wallet(path, HRP)  # a locked wallet, as after a daemon restart
    node = NodeDouble({ws.address_of("spending")[1]: 5 * 10**9})
    server = Server()
    handlers_wallet.register(server, SimpleNamespace(wallet=ws, require_node=lambda: node))  # type: ignore[arg-type]
    yield server, ws, node


def test_send_checks_the_typed_password_and_signs_without_unlocking(service) -> None:  # type: ignore[no-untyped-def]
    server, ws, node = service
    send = server.methods["wallet.send"]
    friend = encode_address(SigningKey.generate().address, HRP)
    with pytest.raises(RpcError) as locked:
        send(friend, "1", "0.000001", "", "spending", "")
    assert locked.value.code == MethodError.WALLET_LOCKED
    with pytest.raises(RpcError) as wrong:
        send(friend, "1", "0.000001", "", "spending", "not the password")
    assert wrong.value.code == MethodError.WRONG_PASSWORD and wrong.value.message == "wrong password"
    assert node.submitted == []
    sent = send(friend, "1.5", "0.000001", "thanks", "spending", PASSWORD)
    assert sent["amount"] == 1_500_000_000 and sent["fee"] == 1000 and len(node.submitted) == 1
    assert ws.locked, "a password typed for one send does not unlock the wallet (nor start mining)"


def test_send_refusals_carry_a_detail_for_the_form(service) -> None:  # type: ignore[no-untyped-def]
    server, _ws, node = service
    send = server.methods["wallet.send"]
    friend = encode_address(SigningKey.generate().address, HRP)
    with pytest.raises(RpcError) as bad_address:
        send(friend[:-1] + ("q" if friend[-1] != "q" else "p"), "1", "0.000001", "", "spending", PASSWORD)
    assert bad_address.value.code == MethodError.BAD_INPUT
    assert bad_address.value.data == {"error": "bad_input", "detail": "invalid_address"}
    with pytest.raises(RpcError) as poor:
        send(friend, "6", "0.000001", "", "spending", PASSWORD)
    assert poor.value.code == MethodError.TX_REFUSED and poor.value.data["detail"] == "insufficient_funds"
    assert node.submitted == []


def test_history_entries_carry_the_block_time(service) -> None:  # type: ignore[no-untyped-def]
    server, ws, node = service
    reward_account = ws.address_of("reward")[1]
    reward = SimpleNamespace(task_id=b"\x07" * 32, amount=12 * 10**9, recipient=reward_account, kind="miner")
    node.rewards[reward_account] = [SimpleNamespace(height=4, reward=reward)]
    entries = server.methods["wallet.history"](100)["entries"]
    assert [(e["kind"], e["height"], e["time"], e["delta"]) for e in entries] == [
        ("reward", 4, 1_700_000_004, 12 * 10**9)
    ]


def test_sweep_moves_the_rewards_to_the_spending_account_with_no_password(service) -> None:  # type: ignore[no-untyped-def]
    """The window's one action "move rewards to spending": signed by the kept reward key, so it works
    while the wallet is locked (after a restart), and its only destination is the wallet's own account."""
    server, ws, node = service
    sweep = server.methods["wallet.sweep"]
    with pytest.raises(RpcError) as locked:  # never unlocked here: no reward key kept
        sweep("0.000001")
    assert locked.value.code == MethodError.WALLET_LOCKED
    ws.unlock(PASSWORD)
    ws.lock()  # the reward key stays kept for mining
    reward_account = ws.address_of("reward")[1]
    with pytest.raises(RpcError) as empty:
        sweep("0.000001")
    assert empty.value.code == MethodError.BAD_INPUT and "no spendable rewards" in empty.value.message
    node.state = SimpleNamespace(
        account=lambda a: SimpleNamespace(balance=3 * 10**9 if a == reward_account else 0, nonce=2)
    )
    moved = sweep("0.000001")
    (tx,) = node.submitted
    assert moved["amount"] == 3 * 10**9 - 1000 and moved["to"] == ws.address_of("spending")[0]
    assert tx.recipient == ws.address_of("spending")[1] and tx.amount == moved["amount"] and tx.nonce == 2
    assert tx.sender == ws.wallet.watch_only.reward_public and ws.locked
