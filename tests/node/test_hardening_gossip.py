"""Issue 17 row 3: junk that is well signed but useless is ignored before relay and earns nothing.

Real hosts on 127.0.0.1 in a line, watcher - node - attacker, the node running the node's own
semantic gossip check over a real head state (devnet genesis with one open task). The attacker
gossips 300 transfers signed by unfunded keys and 300 receipts for tasks that do not exist: none
reaches the watcher and the attacker's score does not rise. A funded transfer and a receipt for the
open round, sent after the junk, do get through (so the path is open and the check is selective).
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from pathlib import Path

import trio

from app.core.crypto import SigningKey
from app.core.genesis import genesis_block
from app.core.state import ChainState
from app.core.types import NO_SIGNATURE, TaskPost, Transfer, WorkReceipt
from app.miner.demo import task_spec
from app.net.host import GossipMessage, NetConfig, NetHost
from app.net.topics import TopicKind
from app.node import gossip
from tests.integration.hostile import _raw_publish
from tests.node.chainkit import USER, genesis

JUNK = 300


def head_with_task() -> tuple[ChainState, bytes]:
    _, state = genesis_block(genesis())
    spec = task_spec(local_steps=16, checkpoint_interval=8, batch_size=8, rounds=2)
    post = TaskPost(
        chain_id=state.chain_id,
        sender=USER.public_key,
        nonce=0,
        spec=spec,
        fee_per_round=10,
        fee=1,
        signature=NO_SIGNATURE,
    ).signed_by(USER)
    return state.apply_tx(post, bytes(20)), post.tx_id


def transfer(state: ChainState, sender: SigningKey, nonce: int) -> Transfer:
    return Transfer(
        chain_id=state.chain_id,
        sender=sender.public_key,
        nonce=nonce,
        recipient=bytes(20),
        amount=5,
        fee=1,
        memo="",
        signature=NO_SIGNATURE,
    ).signed_by(sender)


def receipt(state: ChainState, task_id: bytes, miner: SigningKey, base: bytes, round_: int = 0) -> WorkReceipt:
    return WorkReceipt(
        chain_id=state.chain_id,
        task_id=task_id,
        round=round_,
        miner=miner.public_key,
        base_checkpoint=base,
        commitments_root=os.urandom(32),
        update_hash=os.urandom(32),
        steps=16,
        final_loss_micro=1,
        device_class="cpu",
        signature=NO_SIGNATURE,
    ).signed_by(miner)


def test_unfunded_transfers_and_receipts_for_no_open_round_are_not_relayed_or_rewarded(tmp_path: Path) -> None:
    state, task_id = head_with_task()
    checkpoint = state.task(task_id).checkpoint  # type: ignore[union-attr]
    junk_txs = [transfer(state, SigningKey.generate(), 0) for _ in range(JUNK)]
    junk_receipts = [receipt(state, os.urandom(32), SigningKey.generate(), checkpoint) for _ in range(JUNK // 2)]
    miner = SigningKey.generate()
    junk_receipts += [receipt(state, task_id, miner, os.urandom(32)) for _ in range(JUNK // 4)]  # wrong base
    junk_receipts += [receipt(state, task_id, miner, checkpoint, 1 + i) for i in range(JUNK // 4)]  # no such round
    good_tx = transfer(state, USER, state.account(USER.address).nonce)
    good_receipt = receipt(state, task_id, miner, checkpoint)

    async def main() -> None:
        seen: list[GossipMessage] = []

        async def on_message(message: GossipMessage) -> None:
            seen.append(message)

        async with AsyncExitStack() as stack:
            hosts = []
            for name in ("watcher", "node", "attacker"):
                cfg = NetConfig(chain_id=state.chain_id, key_path=tmp_path / name / "p2p.key", heartbeat_s=0.2)
                hosts.append(await stack.enter_async_context(NetHost.open(cfg)))
            watcher, node, attacker = hosts
            check = gossip.make_validator(lambda: state)
            for kind in TopicKind:
                node.set_validator(kind, check)
                watcher.subscribe(kind, on_message)
            await node.connect(watcher.listen_addrs[0])
            await attacker.connect(node.listen_addrs[0])
            for kind in (TopicKind.TXS, TopicKind.RECEIPTS):
                await attacker.wait_for_mesh(kind, 1, 20)
                await watcher.wait_for_mesh(kind, 1, 20)

            # Paced: py-libp2p drops what overflows a peer's 32-RPC outbound queue, on both hops.
            for record in [*junk_txs, *junk_receipts, good_tx, good_receipt]:
                await _raw_publish(
                    attacker, TopicKind.TXS if isinstance(record, Transfer) else TopicKind.RECEIPTS, record.encode()
                )
                await trio.sleep(0.004)
            wanted = {good_tx.tx_id, good_receipt.receipt_id}
            with trio.move_on_after(20):
                while not wanted <= {_id(m) for m in seen}:
                    await trio.sleep(0.05)
            await trio.sleep(1.0)  # anything relayed with them has arrived too
            outcome.update(
                score=node.peer_table.score(attacker.peer_id),
                reward=node.peer_table.policy.reward,
                offences={v.peer_id: v.offences for v in node.peers()}.get(attacker.peer_id, {}),
                seen={_id(m) for m in seen},
                wanted=wanted,
            )
        # Asserted outside the hosts' nurseries, so a failure reads as itself.

    outcome: dict = {}
    trio.run(main)
    junk = outcome["seen"] - outcome["wanted"]
    assert not junk, f"{len(junk)} junk records relayed"
    assert outcome["wanted"] <= outcome["seen"]  # the honest records did get through
    # Ignored, never rewarded: at most the two good records' credit, and no blame for the rest.
    assert outcome["score"] <= 2 * outcome["reward"] + 1e-9
    assert outcome["offences"] == {}


def _id(message: GossipMessage) -> bytes:
    record = message.record
    return record.receipt_id if isinstance(record, WorkReceipt) else record.tx_id  # type: ignore[attr-defined]
