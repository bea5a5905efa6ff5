"""The wallet's history: transfers and rewards touching its accounts, from the node's records; CSV.

The node hands over plain records with the height of the block that included each one; this module
only decides what each means for this wallet. An amount is the signed change to the wallet's total
(a transfer between the wallet's own spending and reward accounts changes it only by the fee).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from app.core.address import encode_address
from app.core.types import Reward, Transfer
from app.fsutil import write_atomic
from app.wallet.tx import format_amount

SENT, RECEIVED, SELF, REWARD = "sent", "received", "self", "reward"
CSV_COLUMNS = ("height", "kind", "amount_pot", "fee_pot", "counterparty", "reference", "memo")


@dataclass(frozen=True)
class HistoryEntry:
    height: int
    kind: str
    delta: int  # grains; negative for money leaving the wallet (fee included)
    fee: int
    counterparty: bytes | None  # the other account; None for rewards and own transfers
    reference: bytes  # transaction id, or the task id of a reward
    memo: str
    order: int  # position among the records of one height, to keep the node's order


def build_history(
    own: set[bytes],
    transfers: Iterable[tuple[int, Transfer]],
    rewards: Iterable[tuple[int, Reward]],
) -> list[HistoryEntry]:
    """Entries touching the accounts in `own`, oldest first (by height, then the node's order)."""
    entries: list[HistoryEntry] = []
    order = -1
    for order, (height, tx) in enumerate(transfers):
        sender_ours, recipient_ours = tx.sender_address in own, tx.recipient in own
        if sender_ours and recipient_ours:
            entries.append(HistoryEntry(height, SELF, -tx.fee, tx.fee, None, tx.tx_id, tx.memo, order))
        elif sender_ours:
            delta = -(tx.amount + tx.fee)
            entries.append(HistoryEntry(height, SENT, delta, tx.fee, tx.recipient, tx.tx_id, tx.memo, order))
        elif recipient_ours:
            entries.append(HistoryEntry(height, RECEIVED, tx.amount, 0, tx.sender_address, tx.tx_id, tx.memo, order))
    for order, (height, reward) in enumerate(rewards, start=order + 1):
        if reward.recipient in own:
            entries.append(HistoryEntry(height, REWARD, reward.amount, 0, None, reward.task_id, reward.kind, order))
    return sorted(entries, key=lambda e: (e.height, e.order))


def _signed_pot(grains: int) -> str:
    return ("-" if grains < 0 else "") + format_amount(abs(grains), unit=False)


def _cell(text: str) -> str:
    """Neutralise spreadsheet formulas in text that came from other people (memos)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(entries: Iterable[HistoryEntry], hrp: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow(
            [
                e.height,
                e.kind,
                _signed_pot(e.delta),
                format_amount(e.fee, unit=False),
                encode_address(e.counterparty, hrp) if e.counterparty else "",
                e.reference.hex(),
                _cell(e.memo),
            ]
        )
    return out.getvalue()


def export_csv(entries: Iterable[HistoryEntry], hrp: str, path: Path | str) -> None:
    """Write the CSV atomically (mode 0644: history is not a secret, but not everyone's to edit)."""
    write_atomic(Path(path), to_csv(entries, hrp).encode("utf-8"), mode=0o644)
