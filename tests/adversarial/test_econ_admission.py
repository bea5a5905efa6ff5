"""Cheat: post a degenerate task (nothing to train, or priced at nothing) and mine it with one's own keys.

Against the old rules a `TaskPost` with SGD at learning rate 0, batch 1 and a million local steps was
applied as is, and rewards paid per step handed its poster almost all of a block's miner issuance.
Now the state machine refuses each degenerate task with its own reason (and stores nothing), the
mempool refuses it, and gossip rejects it before relaying it.
"""

from __future__ import annotations

import asyncio

import pytest

from app.core import admission
from app.core.admission import InadmissibleTask
from app.core.types import TaskPost
from app.net.topics import TopicKind
from app.net.validators import GossipValidator, Verdict
from app.node.gossip import make_validator
from app.node.mempool import Mempool
from tests.core.chainkit import Chain, spec


def _sgd(lr: str) -> tuple[tuple[str, str], ...]:
    return (("lr", lr), ("momentum", "0"), ("weight_decay", "0"))


# (reason, spec changes, fee per round or None for a fair fee)
DEGENERATE = [
    ("lr-too-low", dict(optimizer_params=_sgd("0")), None),
    ("lr-too-high", dict(optimizer_params=_sgd("5")), None),
    ("momentum-too-high", dict(optimizer_params=(("lr", "0.1"), ("momentum", "0.999"), ("weight_decay", "0"))), None),
    ("batch-too-small", dict(batch_size=1), None),
    ("too-many-steps", dict(local_steps=1_000_000, checkpoint_interval=1000), None),
    ("too-many-rounds", dict(rounds=1_000_000), None),  # an escrow no one can pay: still REJECT, not IGNORE
    ("unknown-model", dict(model="mlp-tiny"), None),
    ("fee-too-low", {}, 0),
]


def _gossiped(chain: Chain, post: TaskPost) -> tuple[Verdict, list[str]]:
    """The verdict of a node's real gossip validator on `post` from a peer, and the peers it reported."""
    reported: list[str] = []
    gossip = GossipValidator(
        chain.params.chain_id, "me", lambda peer, offence: reported.append(peer), lambda peer: None
    )
    gossip.set_semantic(TopicKind.TASKS, make_validator(lambda: chain.state))
    verdict, _ = asyncio.run(gossip.check(TopicKind.TASKS, "peer", post.encode()))
    return verdict, reported


def _fair_fee(chain: Chain, task: object) -> int:
    return 10 * admission.min_fee_per_round(task, chain.params.min_fee_per_gflop)  # type: ignore[arg-type]


def test_the_self_dealers_lr0_batch1_million_step_task_is_refused_and_nothing_is_stored() -> None:
    chain = Chain()
    dealer = chain.users[0]
    task = spec(rounds=3).replace(
        optimizer_params=_sgd("0"), batch_size=1, local_steps=1_000_000, checkpoint_interval=1000
    )
    post = chain.post_task(dealer, fee_per_round=1, task_spec=task)
    before = chain.state
    with pytest.raises(InadmissibleTask) as exc:
        chain.state.apply_tx(post, chain.validators[0].address)
    assert exc.value.reason == "lr-too-low"
    built = chain.advance([post])  # the builder leaves the refused post out of the block
    assert built.block.body.transactions == ()
    assert chain.state.task(post.tx_id) is None
    assert chain.state.account(dealer.address) == before.account(dealer.address)


@pytest.mark.parametrize("reason,changes,fee", DEGENERATE, ids=[d[0] for d in DEGENERATE])
def test_each_degenerate_task_is_refused_with_its_own_reason_by_state_mempool_and_gossip(
    reason: str, changes: dict[str, object], fee: int | None
) -> None:
    chain = Chain()
    task = spec(rounds=3).replace(**changes)
    fee_per_round = fee if fee is not None else 10**5
    post = chain.post_task(chain.users[0], fee_per_round=fee_per_round, task_spec=task)
    with pytest.raises(InadmissibleTask) as exc:
        chain.state.apply_tx(post, chain.validators[0].address)
    assert exc.value.reason == reason
    pool = Mempool()
    with pytest.raises(InadmissibleTask) as exc:
        pool.add(post, chain.state)
    assert exc.value.reason == reason and len(pool) == 0
    assert _gossiped(chain, post) == (Verdict.REJECT, ["peer"])
    chain.advance([post])
    assert chain.state.task(post.tx_id) is None


def test_a_fair_task_passes_state_mempool_and_gossip() -> None:
    chain = Chain()
    task = spec(rounds=3)
    post = chain.post_task(chain.users[0], fee_per_round=_fair_fee(chain, task), task_spec=task)
    assert Mempool().add(post, chain.state)
    assert _gossiped(chain, post) == (Verdict.ACCEPT, [])
    chain.advance([post])
    assert chain.state.task(post.tx_id) is not None


def test_the_fee_floor_scales_with_compute_per_round() -> None:
    chain = Chain()
    small = spec(rounds=1)
    big = small.replace(batch_size=64, local_steps=100, checkpoint_interval=10)
    floor_small = admission.min_fee_per_round(small, chain.params.min_fee_per_gflop)
    floor_big = admission.min_fee_per_round(big, chain.params.min_fee_per_gflop)
    assert admission.compute_per_round(big) == 80 * admission.compute_per_round(small)
    rate = chain.params.min_fee_per_gflop
    assert floor_big == -(-admission.compute_per_round(big) * rate // 10**9) > floor_small
    under = chain.post_task(chain.users[0], fee_per_round=floor_big - 1, task_spec=big)
    with pytest.raises(InadmissibleTask) as exc:
        chain.state.apply_tx(under, chain.validators[0].address)
    assert exc.value.reason == "fee-too-low"
    chain.nonces.clear()
    at = chain.post_task(chain.users[0], fee_per_round=floor_big, task_spec=big)
    chain.state.apply_tx(at, chain.validators[0].address)
