"""History from the node's records: what each means for this wallet, ordering, CSV export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from app.core.address import encode_address
from app.core.crypto import SigningKey, key_hash
from app.core.types import Reward
from app.wallet.history import RECEIVED, REWARD, SELF, SENT, build_history, export_csv, to_csv
from app.wallet.tx import build_transfer

ME = SigningKey.from_seed(bytes([1]) * 32)
MY_REWARD = SigningKey.from_seed(bytes([2]) * 32)
THEM = SigningKey.from_seed(bytes([3]) * 32)
OWN = {ME.address, MY_REWARD.address}
TASK = bytes([9]) * 32


def _tx(key: SigningKey, to: bytes, amount: int, fee: int, nonce: int, memo: str = ""):  # type: ignore[no-untyped-def]
    return build_transfer(key, "c", "potd", encode_address(to, "potd"), amount, fee, nonce, memo)


def test_kinds_deltas_and_order() -> None:
    sent = _tx(ME, THEM.address, 100, 2, 0, "rent")
    received = _tx(THEM, ME.address, 50, 1, 0)
    sweep = _tx(MY_REWARD, ME.address, 30, 1, 0)
    unrelated = _tx(THEM, key_hash(bytes(32)), 5, 1, 1)
    rewards = [
        (3, Reward(MY_REWARD.address, 40, Reward.KIND_MINER, TASK)),
        (3, Reward(THEM.address, 40, Reward.KIND_MINER, TASK)),
    ]
    history = build_history(OWN, [(5, sent), (2, received), (5, sweep), (4, unrelated)], rewards)
    assert [(e.height, e.kind, e.delta, e.fee) for e in history] == [
        (2, RECEIVED, 50, 0),
        (3, REWARD, 40, 0),
        (5, SENT, -102, 2),
        (5, SELF, -1, 1),
    ]
    assert history[0].counterparty == THEM.address and history[0].reference == received.tx_id
    assert history[1].reference == TASK and history[1].memo == "miner"
    assert history[3].counterparty is None
    assert sum(e.delta for e in history) == 50 + 40 - 102 - 1


def test_empty_history() -> None:
    assert build_history(OWN, [], []) == []
    assert to_csv([], "potd") == "height,kind,amount_pot,fee_pot,counterparty,reference,memo\n"


def test_csv_export(tmp_path: Path) -> None:
    sent = _tx(ME, THEM.address, 1_500_000_000, 1_000, 0, '=HYPERLINK("x")')
    history = build_history(OWN, [(7, sent)], [(8, Reward(ME.address, 1, Reward.KIND_VALIDATOR, TASK))])
    export_csv(history, "potd", tmp_path / "h.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "h.csv").read_text())))
    assert rows[0]["amount_pot"] == "-1.500001" and rows[0]["fee_pot"] == "0.000001"
    assert rows[0]["counterparty"] == encode_address(THEM.address, "potd")
    assert rows[0]["memo"].startswith("'=")  # a formula in someone's memo stays text
    assert rows[1] == {
        "height": "8", "kind": "reward", "amount_pot": "0.000000001", "fee_pot": "0",
        "counterparty": "", "reference": TASK.hex(), "memo": "validator",
    }  # fmt: skip


def test_transfers_come_before_rewards_within_a_height() -> None:
    unrelated = [(6, _tx(THEM, key_hash(bytes(32)), 5, 1, n)) for n in range(3)]
    mine = _tx(THEM, ME.address, 7, 1, 3)
    reward = (6, Reward(ME.address, 1, Reward.KIND_MINER, TASK))
    history = build_history(OWN, unrelated + [(6, mine)], [reward])
    assert [e.kind for e in history] == [RECEIVED, REWARD]
