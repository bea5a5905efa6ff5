"""The economics simulation of issue 12: each mining strategy's reward per unit of compute, on the real chain.

Every block is a real block (`tests.core.chainkit`: built by `build_block`, signed by a quorum, checked
by `validate_block`) carrying real signed task posts, receipts, round results and fraud proofs, applied
by the real state machine; rewards, vesting and claw-backs are the state machine's own. Only two things
are drawn (seeded): whether the committee refuses a cheat's receipt, and whether an auditor catches an
accepted one before it vests; their probabilities are READ from `bench/results/attacks.json` (measured by
`bench/bench_attacks.py` with real torch replays), never set here.

Compute is the FLOPs a strategy really spends (a lazy miner skipping 10% of its segments spends 90%
of an honest round); reward is what vests on chain (a proven fraud claws back all pending rewards).
`bench/bench_economics.py` prints the table; `tests/adversarial/test_economics.py` pins its verdicts.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core import admission
from app.core.crypto import SigningKey
from app.core.rewards import REWARD_PENDING
from app.core.types import FraudProof, RoundResult, WorkReceipt
from tests.core.chainkit import PARAMS, Chain, key, spec

ATTACKS_JSON = Path(__file__).resolve().parents[2] / "bench" / "results" / "attacks.json"

# The simulated chain: chainkit's parameters with the devnet's vesting (8 blocks, 16 for a key without
# history) and task share cap, and no halving within the run.
SIM_PARAMS = PARAMS.replace(
    halving_interval=1_000_000,
    reward_vesting_blocks=8,
    new_key_vesting_blocks=16,
    max_task_share_bps=5_000,
    task_expiry_blocks=50,
    epoch_length=20,
)


@dataclass(frozen=True)
class Detection:
    """How a receipt of an attack class fares: refused by the committee, or caught by an audit after acceptance."""

    committee: float  # P(committee refuses the receipt)
    audit_after_accept: float  # P(an auditor proves it before it vests | the committee accepted it)

    @property
    def per_receipt(self) -> float:
        return self.committee + (1 - self.committee) * self.audit_after_accept


def load_detection(path: Path = ATTACKS_JSON) -> dict[str, Detection]:
    """Per attack class of `bench_attacks.py`, the measured committee and committee+auditors catch rates."""
    try:
        attacks = json.loads(path.read_text())["attacks"]
    except (OSError, KeyError, ValueError) as exc:
        raise RuntimeError(
            f"cannot read the measured detection rates from {path} (run bench/bench_attacks.py)"
        ) from exc
    out = {}
    for name, row in attacks.items():
        c, a = float(row["committee_caught"]), float(row["caught_with_audit"])
        out[name] = Detection(c, 0.0 if c >= 1 else (a - c) / (1 - c))
    return out


@dataclass(frozen=True)
class Strategy:
    """A way to mine: how many keys, the share of an honest round's FLOPs it spends, how it is detected.

    `attack` names the `attacks.json` class whose measured rates apply (None: never caught). `self_dealing`
    mines the strategy's own task (posted at the fee floor) instead of the outside one. `fresh_keys`
    replaces a key whose rewards were clawed back by a new one (a Sybil has keys for free).
    """

    name: str
    keys: int = 1
    compute: float = 1.0
    attack: str | None = None
    self_dealing: bool = False
    fresh_keys: bool = False
    device_class: str = "cpu"


STRATEGIES: tuple[Strategy, ...] = (
    Strategy("honest", keys=3),
    Strategy("self-dealing task", keys=2, self_dealing=True),
    Strategy("lazy, serving its blobs", compute=0.9, attack="lazy miner, 90% honest"),
    Strategy("lazy, withholding blobs", compute=43 / 60, attack="withholding a challenged blob"),
    Strategy(
        "Sybil keys (lazy, fresh key per catch)", keys=2, compute=0.9, attack="lazy miner, 90% honest", fresh_keys=True
    ),
    Strategy(
        "fake device class, inside the bound",
        attack="false device class, inside the cross bound",
        device_class="cuda-a100",
    ),
    Strategy("fake device class, outside the bound", attack="false device class", device_class="cuda-a100"),
)


@dataclass(frozen=True)
class Outcome:
    """One strategy's totals over a run: FLOPs spent, grains vested (net of what it paid), receipts, catches."""

    name: str
    flops: float
    reward: int
    receipts: int
    included: int
    caught: int
    keys_used: int

    @property
    def per_gflop(self) -> float:
        return self.reward / (self.flops / admission.FLOPS_PER_GFLOP) if self.flops else 0.0


@dataclass(frozen=True)
class Report:
    outcomes: tuple[Outcome, ...]
    rounds: int
    floor_per_receipt: int  # the fee floor of one receipt's compute, in grains
    flops_per_receipt: int

    def outcome(self, name: str) -> Outcome:
        return next(o for o in self.outcomes if o.name == name)

    def ratio(self, name: str) -> float:
        """Reward per unit of compute of `name` divided by honest mining's, in this same run."""
        return self.outcome(name).per_gflop / self.outcome("honest").per_gflop


@dataclass
class _Actor:
    strategy: Strategy
    keys: list[SigningKey]
    spawned: int
    flops: float = 0.0
    receipts: int = 0
    included: int = 0
    caught: int = 0


def simulate(
    rounds: int = 40,
    seed: int = 1,
    strategies: Sequence[Strategy] = STRATEGIES,
    detection: dict[str, Detection] | None = None,
    blocks_per_round: int = 1,
    audit_delay_blocks: int = 2,
) -> Report:
    """Mine `rounds` rounds of an outside task (and the self-dealers' own task) on a real chain, then let
    every pending reward vest or be clawed back, and total each strategy's compute and vested reward.

    The outside task pays exactly the fee floor per receipt (the worst case for honest miners: any
    higher fee only widens their lead). An accepted cheat caught by an audit gets a real `FraudProof`
    `audit_delay_blocks` after its receipt (well inside its vesting window).
    """
    detection = load_detection() if detection is None else detection
    for s in strategies:
        if s.attack is not None and s.attack not in detection:
            raise ValueError(f"no measured detection rate for attack class {s.attack!r}")
    rng = random.Random(seed)
    chain = Chain(params=SIM_PARAMS)
    requester, dealer, auditor = chain.users
    task_spec = spec(rounds=rounds)  # both tasks finish with the run: no escrow left held
    floor = admission.min_fee_per_round(task_spec, chain.params.min_fee_per_gflop)
    flops = admission.compute_per_round(task_spec)
    actors = [_Actor(s, [key(f"econ/{s.name}/{i}") for i in range(s.keys)], s.keys) for s in strategies]
    outside_miners = sum(a.strategy.keys for a in actors if not a.strategy.self_dealing)
    dealer_miners = sum(a.strategy.keys for a in actors if a.strategy.self_dealing)
    outside = chain.post_task(requester, fee_per_round=floor * outside_miners, task_spec=task_spec)
    txs = [outside]
    own = None
    if dealer_miners:
        own = chain.post_task(
            dealer,
            fee_per_round=floor * dealer_miners,
            task_spec=task_spec.replace(initial_checkpoint=task_spec.initial_checkpoint[::-1]),
        )
        txs.append(own)
    dealer_start = chain.state.account(dealer.address).balance
    chain.advance(txs)
    owner_of: dict[bytes, _Actor] = {}
    proofs_due: dict[int, list[WorkReceipt]] = {}

    def mine_round() -> None:
        receipts: list[WorkReceipt] = []
        results: list[RoundResult] = []
        for task_id, dealing in ((outside.tx_id, False), (own.tx_id if own else None, True)):
            if task_id is None:
                continue
            group = []
            for actor in actors:
                if actor.strategy.self_dealing != dealing:
                    continue
                for k in actor.keys:
                    actor.receipts += 1
                    actor.flops += flops * actor.strategy.compute
                    attack = actor.strategy.attack
                    rates = detection[attack] if attack else Detection(0.0, 0.0)
                    if rng.random() < rates.committee:
                        continue  # refused by the committee's replay (or its blob is unavailable): no reward
                    receipt = chain.receipt(k, task_id, device_class=actor.strategy.device_class)
                    group.append(receipt)
                    owner_of[k.public_key] = actor
                    actor.included += 1
                    if rng.random() < rates.audit_after_accept:
                        proofs_due.setdefault(chain.state.height + 1 + audit_delay_blocks, []).append(receipt)
            if group:
                receipts += group
                results.append(chain.result(task_id, group))
        advance(receipts=receipts, results=results)

    def advance(receipts: Sequence[WorkReceipt] = (), results: Sequence[RoundResult] = ()) -> None:
        height = chain.state.height + 1
        proofs: list[FraudProof] = []
        for receipt in proofs_due.pop(height, []):
            reward = chain.state.pending_reward(receipt.receipt_id)
            if reward is None or reward.status != REWARD_PENDING:
                continue  # already clawed back with an earlier proof (all pending goes at once)
            if any(p.receipt.miner == receipt.miner for p in proofs):
                continue
            proofs.append(chain.fraud_proof(receipt, 0, auditor.address))
            actor = owner_of[receipt.miner]
            actor.caught += 1
            if actor.strategy.fresh_keys and any(k.public_key == receipt.miner for k in actor.keys):
                # the Sybil drops the caught key and mines on with a new one
                actor.keys = [k for k in actor.keys if k.public_key != receipt.miner] + [
                    key(f"econ/{actor.strategy.name}/{actor.spawned}")
                ]
                actor.spawned += 1
        chain.advance(fraud_proofs=proofs, receipts=receipts, results=results)

    for _ in range(rounds):
        mine_round()
        for _ in range(blocks_per_round - 1):
            advance()
    last = max(proofs_due, default=0)
    for _ in range(max(chain.params.new_key_vesting_blocks, chain.params.reward_vesting_blocks) + 2):
        advance()
    assert chain.state.height > last and not chain.state.pending_rewards()

    outcomes = []
    for actor in actors:
        spent = range(actor.spawned)
        vested = sum(chain.state.account(key(f"econ/{actor.strategy.name}/{i}").address).balance for i in spent)
        if actor.strategy.self_dealing:  # net of the fees its own task paid (and the post's transaction fee)
            vested += chain.state.account(dealer.address).balance - dealer_start
        outcomes.append(
            Outcome(
                actor.strategy.name, actor.flops, vested, actor.receipts, actor.included, actor.caught, actor.spawned
            )
        )
    return Report(tuple(outcomes), rounds, floor, flops)
