"""Turns the chain's progress into events: new blocks, our receipts included, our rewards paid.

A full node in the daemon is not a validator, so "receipt verified" is seen where it becomes final:
the committee includes a receipt in a block only after verifying it (docs/PROTOCOL.md, Part 3). The
watcher polls the head (cheap: an attribute read) and reads each new block from the store once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from app.core.address import encode_address
from app.core.crypto import key_hash
from app.core.hashing import ZERO_HASH
from app.core.types import Reward, TaskPost
from app.daemon import events as ev
from app.daemon.events import EventBus

log = logging.getLogger(__name__)

POLL_S = 0.5


class BlockWatcher:
    def __init__(self, node: Any, bus: EventBus, own: Callable[[], set[bytes]]) -> None:
        self.node = node
        self.bus = bus
        self.own = own
        self._seen = node.state.height
        self._rounds: dict[bytes, int] = {}  # light mode: each task's round last seen
        self._rewarded: set[bytes] = set()  # light mode: receipts whose reward was announced
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="block-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.catch_up()
            except Exception:  # a store read during shutdown, say; the next poll tries again
                log.debug("block watcher: poll failed", exc_info=True)

    def catch_up(self) -> None:
        state = self.node.state
        while self._seen < state.height:
            block = self.node.block(self._seen + 1)
            if block is None:
                if self.node.mode == "light":  # no bodies: announce headers, and what the proofs changed
                    self._seen = state.height
                    self.announce_light(state)
                return
            self._seen += 1
            self.announce(block)

    def announce_light(self, state: Any) -> None:
        """A light node's events from its proven view: the head, rounds that started, our rewards."""
        header = self.node.header(state.height)
        if header is not None:
            self.bus.publish(
                ev.NewBlock(
                    height=header.height,
                    block_id=header.block_hash.hex(),
                    timestamp=header.timestamp_ms // 1000,
                    tx_count=0 if header.txs_root == ZERO_HASH else 1,  # the header has a root, not a count
                )
            )
        for task_id, task in state.tasks().items():
            if self._rounds.get(task_id, task.round) != task.round:
                self.bus.publish(ev.RoundStarted(round=task.round, task_id=task_id.hex()))
            self._rounds[task_id] = task.round
        own = self.own()
        for rid, reward in state.pending_rewards().items():
            if rid in self._rewarded or reward.miner not in own:
                continue
            self._rewarded.add(rid)
            self.bus.publish(
                ev.ReceiptVerified(
                    receipt_id=rid.hex(), task_id=reward.task_id.hex(), miner=reward.miner.hex(), accepted=True
                )
            )
            self.bus.publish(
                ev.Reward(
                    address=encode_address(reward.miner, self.node.hrp),
                    amount=reward.amount,
                    height=state.height,
                    task_id=reward.task_id.hex(),
                    vesting=reward.unlock_height > state.height,
                    unlock_height=reward.unlock_height,
                )
            )

    def announce(self, block: Any) -> None:
        header, body = block.header, block.body
        self.bus.publish(
            ev.NewBlock(
                height=header.height,
                block_id=block.block_hash.hex(),
                timestamp=header.timestamp_ms // 1000,
                tx_count=len(body.transactions),
            )
        )
        own = self.own()
        for receipt in body.receipts:
            if key_hash(receipt.miner) in own:
                self.bus.publish(
                    ev.ReceiptVerified(
                        receipt_id=receipt.receipt_id.hex(),
                        task_id=receipt.task_id.hex(),
                        miner=key_hash(receipt.miner).hex(),
                        accepted=True,
                    )
                )
        for tx in body.transactions:
            if isinstance(tx, TaskPost):
                self.bus.publish(ev.RoundStarted(round=0, task_id=tx.tx_id.hex()))
        for result in body.results:
            self.bus.publish(ev.RoundStarted(round=result.round + 1, task_id=result.task_id.hex()))
        for reward in body.rewards:
            if reward.recipient in own:
                # A miner's reward vests `reward_vesting_blocks` after the block that pays it (a fraud
                # proof can claw it back until then); other rewards are spendable at once.
                window = self.node.state.params.reward_vesting_blocks if reward.kind == Reward.KIND_MINER else 0
                unlock = header.height + window if window else None
                if reward.kind == Reward.KIND_MINER:  # a key without history vests longer: the state knows
                    held = [
                        self.node.state.pending_reward(r.receipt_id)
                        for r in body.receipts
                        if r.task_id == reward.task_id and key_hash(r.miner) == reward.recipient
                    ]
                    if held and held[0] is not None:
                        unlock = held[0].unlock_height
                self.bus.publish(
                    ev.Reward(
                        address=encode_address(reward.recipient, self.node.hrp),
                        amount=reward.amount,
                        height=header.height,
                        task_id=reward.task_id.hex(),
                        vesting=unlock is not None and unlock > header.height,
                        unlock_height=unlock,
                    )
                )
