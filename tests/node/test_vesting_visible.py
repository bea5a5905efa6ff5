"""Vesting rewards are shown apart from the spendable balance: node status file, reward event, window summary."""

from __future__ import annotations

from types import SimpleNamespace

from app.core.rewards import REWARD_PENDING
from app.daemon import events as ev
from app.daemon.events import EventBus
from app.daemon.watcher import BlockWatcher
from app.node.status import snapshot
from app.ui import api
from app.wallet.tx import balance_summary
from tests.core.chainkit import Chain, key


def test_a_paid_reward_shows_as_vesting_until_its_unlock_height() -> None:
    chain = Chain()
    post = chain.post_task(chain.users[0])
    chain.advance([post])
    chain.advance()
    miner = key("miner")
    receipts = [chain.receipt(miner, post.tx_id)]
    block = chain.finalise(chain.build(results=[chain.result(post.tx_id, receipts)], receipts=receipts))
    window = chain.params.vesting_blocks(has_history=False)  # a first reward: a key without history
    assert window > 0
    acct = chain.state.account(miner.address)
    assert acct.pending > 0 and acct.balance == 0
    [reward] = chain.state.pending_rewards(miner.address).values()
    assert reward.status == REWARD_PENDING

    doc = snapshot(chain.state, role="miner", key_address=miner.address, peers=[])
    assert (doc["balance"], doc["pending"]) == (0, acct.pending)

    node = SimpleNamespace(state=chain.state, hrp="potd", block=lambda h: chain.blocks[h])
    bus, seen = EventBus(), []
    bus.subscribe(seen.append, ["reward"])
    BlockWatcher(node, bus, lambda: {miner.address}).announce(block)
    [event] = [e for e in seen if isinstance(e, ev.Reward)]
    assert event.amount == acct.pending and event.vesting
    assert event.unlock_height == block.header.height + window == reward.unlock_height

    # The window's balance card and the daemon's summary say which part can be spent now.
    balance = api.parse_balance(
        {
            "accounts": {
                "spending": {"balance": 12_500_000_000, "pending": 0},
                "reward": {"balance": 0, "pending": 27_500_000_000},
            },
            "total": 12_500_000_000,
            "pending": 27_500_000_000,
        }
    )
    assert balance.summary == "12.5 POT spendable, 27.5 POT vesting"
    assert balance_summary(12_500_000_000, 27_500_000_000) == "12.5 POT spendable, 27.5 POT vesting"

    for _ in range(window):
        chain.advance()
    acct = chain.state.account(miner.address)
    assert acct.pending == 0 and acct.balance == event.amount
    doc = snapshot(chain.state, role="miner", key_address=miner.address, peers=[])
    assert (doc["balance"], doc["pending"]) == (event.amount, 0)
