"""Property: no sequence of blocks creates or destroys money except the scheduled minting.

Hypothesis draws blocks of random actions (transfers, task posts, bonds, unbonds, closed rounds,
equivocation evidence, fraud proofs against pending rewards, empty blocks that let tasks expire, rewards
vest and epochs turn). Actions that the state
rejects are skipped by the builder, as a proposer would; every block is signed by a quorum and
checked by `validate_block`. After each block, balances + bonds + pending rewards + escrows must equal
the genesis supply plus the rewards minted so far, and the minted total must follow the schedule.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings, strategies as st

from app.core.tasks import TASK_OPEN
from app.core.types import Evidence, Reward
from tests.core.chainkit import BALANCE, PARAMS, Chain, key

MINERS = [key(f"miner{i}") for i in range(3)]

amounts = st.integers(min_value=0, max_value=BALANCE * 2)
actions = st.one_of(
    st.tuples(st.just("transfer"), st.integers(0, 2), st.integers(0, 5), amounts, st.integers(0, 50)),
    st.tuples(st.just("post"), st.integers(0, 2), st.integers(0, 400_000), st.integers(1, 3)),
    st.tuples(st.just("bond"), st.integers(0, 2), amounts),
    st.tuples(st.just("unbond"), st.integers(0, 2), amounts),
    st.tuples(st.just("round"), st.integers(0, 5), st.lists(st.integers(0, 2), min_size=0, max_size=3)),
    st.tuples(st.just("evidence"), st.integers(0, 3)),
    st.tuples(st.just("fraud"), st.integers(0, 5), st.integers(0, 2), st.integers(0, 5)),
)
blocks = st.lists(st.lists(actions, max_size=6), min_size=1, max_size=7)


def _recipient(chain: Chain, index: int) -> bytes:
    people = chain.users + MINERS
    return people[index % len(people)].address


def _block(chain: Chain, plan: list[tuple]) -> None:  # type: ignore[type-arg]
    txs, results, receipts, evidence, fraud = [], [], [], [], []  # type: ignore[var-annotated]
    included = {r.receipt_id: r for b in chain.blocks for r in b.body.receipts}
    pending = sorted(chain.state.pending_rewards())
    open_tasks = sorted(t for t, task in chain.state.tasks().items() if task.status == TASK_OPEN)
    for action in plan:
        kind, who = action[0], action[1]
        if kind == "transfer":
            txs.append(chain.transfer(chain.users[who], _recipient(chain, action[2]), action[3], fee=action[4]))
        elif kind == "post":
            txs.append(chain.post_task(chain.users[who], fee_per_round=action[2], rounds=action[3]))
        elif kind == "bond":
            txs.append(chain.bond(chain.users[who], action[2]))
        elif kind == "unbond":
            txs.append(chain.unbond(chain.users[who], action[2]))
        elif kind == "round" and open_tasks:
            task_id = open_tasks[who % len(open_tasks)]
            group = [chain.receipt(MINERS[m], task_id) for m in sorted(set(action[2]))]
            receipts.extend(group)
            results.append(chain.result(task_id, group))
        elif kind == "evidence":
            signer = chain.validators[who]
            height = chain.state.height
            evidence.append(
                Evidence(chain.vote(signer, height, b"\x01" * 32), chain.vote(signer, height, b"\x02" * 32))
            )
        elif kind == "fraud" and pending:
            receipt = included[pending[who % len(pending)]]
            fraud.append(chain.fraud_proof(receipt, action[2] % 2, _recipient(chain, action[3])))
    chain.finalise(chain.build(txs, results=results, receipts=receipts, evidence=evidence, fraud_proofs=fraud))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks)
def test_supply_is_conserved_except_scheduled_minting(plans: list[list[tuple]]) -> None:  # type: ignore[type-arg]
    chain = Chain()
    genesis_supply = chain.genesis.supply
    for plan in plans:
        before = chain.state
        _block(chain, plan)
        block = chain.blocks[-1]
        released = sum(before.task(r.task_id).fee_per_round for r in block.body.results)  # type: ignore[union-attr]
        minted_now = sum(r.amount for r in block.body.rewards) - released
        block_reward = PARAMS.block_reward(block.header.height)
        assert 0 <= minted_now <= (block_reward if block.body.results else 0)
        miner_pool = block_reward - PARAMS.validator_share(block_reward)
        for result in block.body.results:  # one task's mint: at most its fee and its share cap
            fee = before.task(result.task_id).fee_per_round  # type: ignore[union-attr]
            to_miners = sum(
                r.amount for r in block.body.rewards if r.kind == Reward.KIND_MINER and r.task_id == result.task_id
            )
            assert to_miners - fee <= min(fee, PARAMS.task_share_cap(miner_pool))
        assert all(r.kind in (Reward.KIND_MINER, Reward.KIND_VALIDATOR) for r in block.body.rewards)
        unminted = before.meta.minted + minted_now - chain.state.meta.minted  # only a fraud proof unmints
        assert unminted >= 0 and (unminted == 0 or block.body.fraud_proofs)
        assert chain.state.total_held() == genesis_supply + chain.state.meta.minted
        held = sum(r.amount for r in chain.state.pending_rewards().values())
        assert held == sum(a.pending for a in chain.state.accounts().values())
        for name, items in (
            ("txs", block.body.transactions),
            ("rounds", block.body.results),
            ("evidence", block.body.evidence),
            ("fraud", block.body.fraud_proofs),
        ):
            if items:
                event(f"block with {name}")
