"""The rewards a light node proved for its own receipts, kept so the wallet's history outlives them.

A full node finds an address's rewards in the blocks it stores. A light node has no blocks; what it
has proven is each `PendingReward` entry of its receipts while the state still holds it (pending,
then settled, then dropped `reward_vesting_blocks` later). Each first sighting, and each change of
status, is appended here as one line `height receipt-id reward-record` (hex), so the history shows
every reward once proven, with the height it was first seen at. A torn last line (the process killed
mid-write) is skipped when read; nothing else is lost.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import EncodingError
from app.core.rewards import REWARD_CLAWED, PendingReward

log = logging.getLogger(__name__)

MAX_LINE = 4096


@dataclass(frozen=True)
class ProvenReward:
    height: int  # the verified header against which it was first proven (with this status)
    receipt_id: bytes
    reward: PendingReward


class RewardLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._latest: dict[bytes, ProvenReward] = {}
        self._first: dict[bytes, ProvenReward] = {}
        for entry in self._read():
            self._first.setdefault(entry.receipt_id, entry)
            self._latest[entry.receipt_id] = entry

    def _read(self) -> list[ProvenReward]:
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for number, line in enumerate(lines, 1):
            try:
                height, rid, record = line.decode("ascii").split(" ")
                out.append(ProvenReward(int(height), bytes.fromhex(rid), PendingReward.decode(bytes.fromhex(record))))
            except (ValueError, UnicodeDecodeError, EncodingError):
                log.warning("%s line %d is damaged (a write cut short?); skipped", self.path.name, number)
        return out

    def record(self, receipt_id: bytes, reward: PendingReward, height: int) -> None:
        """Append `reward` if it is new or its status changed (durable before returning)."""
        with self._lock:
            known = self._latest.get(receipt_id)
            if known is not None and known.reward == reward:
                return
            entry = ProvenReward(height, receipt_id, reward)
            line = f"{height} {receipt_id.hex()} {reward.encode().hex()}\n".encode("ascii")
            with open(self.path, "ab") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            self._latest[receipt_id] = entry
            self._first.setdefault(receipt_id, entry)

    def paid_to(self, address: bytes) -> list[ProvenReward]:
        """Rewards to `address` that were not clawed back, newest first, each at the height it was first
        proven paid."""
        with self._lock:
            out = [
                ProvenReward(self._first[rid].height, rid, entry.reward)
                for rid, entry in self._latest.items()
                if entry.reward.miner == address and entry.reward.status != REWARD_CLAWED
            ]
        return sorted(out, key=lambda e: e.height, reverse=True)

    def receipt_ids(self) -> list[bytes]:
        with self._lock:
            return list(self._latest)
