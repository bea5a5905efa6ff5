"""The node's status file: a small JSON snapshot written atomically after every commit.

Tools (the devnet printer, tests, a GUI) read it instead of talking to the node, so it carries only
what they show: head, epoch, tasks with their round and validation loss, this key's balance
(spendable) and pending (miner rewards still vesting), peers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.core.state import ChainState
from app.core.tasks import TASK_EXPIRED, TASK_FINISHED
from app.fsutil import write_atomic

STATUS_FILE = "status.json"
_TASK_STATUS = {TASK_FINISHED: "finished", TASK_EXPIRED: "expired"}


def snapshot(
    state: ChainState,
    *,
    role: str,
    key_address: bytes,
    peers: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The status document of `state` as seen by the node holding `key_address`."""
    acct = state.account(key_address)
    tasks = []
    for task_id, task in sorted(state.tasks().items()):
        loss = task.last_loss_micro
        tasks.append(
            {
                "task_id": task_id.hex(),
                "round": task.round,
                "rounds": task.spec.rounds,
                "status": _TASK_STATUS.get(task.status, "open"),
                "checkpoint": task.checkpoint.hex(),
                "validation_loss": None if loss is None else loss / 1_000_000,
                "escrow": task.escrow,
            }
        )
    doc = {
        "role": role,
        "height": state.height,
        "head_hash": state.head_hash.hex(),
        "state_root": state.state_root.hex(),
        "epoch": state.epoch,
        "committee": [m.hex() for m in state.next_committee.members],
        "address": key_address.hex(),
        "balance": acct.balance,
        "pending": acct.pending,
        "bond": acct.bond,
        "tasks": tasks,
        "peers": peers,
    }
    doc.update(extra or {})
    return doc


def write_status(datadir: Path, doc: dict[str, Any]) -> None:
    write_atomic(datadir / STATUS_FILE, json.dumps(doc, indent=1, sort_keys=True).encode(), mode=0o644)


def read_status(datadir: Path) -> dict[str, Any] | None:
    """The last status the node wrote, or None before its first."""
    try:
        return json.loads((datadir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
