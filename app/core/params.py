"""Per-network constants of the chain (electrum/constants.py's role), and the schedules they imply.

`ChainParams` is a `Record` because the genesis document embeds it: the genesis hash, and so every
block hash of the chain, commits to the exact rules the chain runs under. Two nodes with different
parameters cannot agree on the genesis block, so they can never mistake each other's chains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from app.core.encoding import UINT64_MAX, MaxLen, Range, Record, ShortText, Uint64
from app.core.types import GRAINS_PER_POT, MAX_COMMITTEE, Block

BPS_DENOMINATOR = 10_000
MAX_HALVINGS = 64  # after 64 halvings every uint64 reward has shifted to zero
# A block's size limit counts the block without its QC (a proposal has none yet, and its validity must
# not change when the QC arrives); the largest QC must still fit in Block.MAX_SIZE on top of it.
MAX_QC_BYTES = 16 * 1024
MAX_VESTING_BLOCKS = 100_000  # a challenge window longer than this would keep too many rewards pending


@dataclass(frozen=True)
class ChainParams(Record):
    """The rules of one network; every field is consensus-critical."""

    TAG = 51
    chain_id: ShortText
    address_hrp: Annotated[str, MaxLen(16)]
    epoch_length: Annotated[int, Range(1, 1_000_000)]
    committee_size: Annotated[int, Range(1, MAX_COMMITTEE)]
    min_bond: Annotated[int, Range(1, UINT64_MAX)]
    initial_block_reward: Uint64
    halving_interval: Annotated[int, Range(1, UINT64_MAX)]
    validator_share_bps: Annotated[int, Range(0, BPS_DENOMINATOR)]
    max_block_bytes: Annotated[int, Range(1024, Block.MAX_SIZE - MAX_QC_BYTES)]
    task_expiry_blocks: Annotated[int, Range(1, UINT64_MAX)]
    max_clock_drift_ms: Uint64
    # Miner rewards vest this many blocks after the block that pays them; until then a fraud proof can
    # claw them back (0: no challenge window). Defaults keep older constructions working.
    reward_vesting_blocks: Annotated[int, Range(0, MAX_VESTING_BLOCKS)] = 0
    fraud_bounty_bps: Annotated[int, Range(0, BPS_DENOMINATOR)] = 5_000
    # Task economics (docs/PROTOCOL.md, "Rewards"): a task's fee per round must pay at least this many
    # grains per GFLOP of one miner's round (app.core.admission), and minting pays at most this rate per
    # verified GFLOP; one task's minted reward in a block is at most `max_task_share_bps` of the block's
    # miner issuance; a key whose rewards never vested waits `new_key_vesting_blocks`.
    min_fee_per_gflop: Uint64 = 0
    max_task_share_bps: Annotated[int, Range(1, BPS_DENOMINATOR)] = BPS_DENOMINATOR
    new_key_vesting_blocks: Annotated[int, Range(0, MAX_VESTING_BLOCKS)] = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.chain_id:
            raise ValueError("chain_id must not be empty")
        if not self.address_hrp or not self.address_hrp.isascii() or not self.address_hrp.islower():
            raise ValueError("address_hrp must be lower-case ASCII")

    def block_reward(self, height: int) -> int:
        """Grains minted by a block at `height` that closes at least one round (0 for genesis)."""
        if height <= 0:
            return 0
        halvings = (height - 1) // self.halving_interval
        if halvings >= MAX_HALVINGS:
            return 0
        return self.initial_block_reward >> halvings

    def max_minted(self) -> int:
        """The most grains minting can ever create: every block from height 1 on closing a round."""
        return sum((self.initial_block_reward >> k) * self.halving_interval for k in range(MAX_HALVINGS))

    def validator_share(self, minted: int) -> int:
        """The part of a block's minted reward paid to the committee for checking the work."""
        return minted * self.validator_share_bps // BPS_DENOMINATOR

    def fraud_bounty(self, clawed: int) -> int:
        """The challenger's share of a reward clawed back by a fraud proof."""
        return clawed * self.fraud_bounty_bps // BPS_DENOMINATOR

    def task_share_cap(self, miner_pool: int) -> int:
        """The most of a block's miner issuance one task's closed round can be minted."""
        return miner_pool * self.max_task_share_bps // BPS_DENOMINATOR

    def vesting_blocks(self, has_history: bool) -> int:
        """How long a miner's reward stays pending: longer for a key that has never had a reward vest."""
        return (
            self.reward_vesting_blocks if has_history else max(self.reward_vesting_blocks, self.new_key_vesting_blocks)
        )

    def epoch_of(self, height: int) -> int:
        return height // self.epoch_length

    def is_epoch_end(self, height: int) -> bool:
        """True for the last block of an epoch: it elects the next epoch's committee."""
        return (height + 1) % self.epoch_length == 0


DEVNET = ChainParams(
    chain_id="pot-devnet",
    address_hrp="potd",
    epoch_length=20,
    committee_size=4,
    min_bond=1_000 * GRAINS_PER_POT,
    initial_block_reward=50 * GRAINS_PER_POT,
    halving_interval=1_000_000,
    validator_share_bps=1_000,
    max_block_bytes=2 * 1024 * 1024,
    task_expiry_blocks=120,
    max_clock_drift_ms=15_000,
    reward_vesting_blocks=8,
    fraud_bounty_bps=5_000,
    min_fee_per_gflop=1_000,
    max_task_share_bps=5_000,
    new_key_vesting_blocks=16,
)

TESTNET = ChainParams(
    chain_id="pot-testnet-1",
    address_hrp="pott",
    epoch_length=240,
    committee_size=16,
    min_bond=10_000 * GRAINS_PER_POT,
    initial_block_reward=50 * GRAINS_PER_POT,
    halving_interval=4_200_000,
    validator_share_bps=1_000,
    max_block_bytes=4 * 1024 * 1024,
    task_expiry_blocks=720,
    max_clock_drift_ms=15_000,
    reward_vesting_blocks=240,
    fraud_bounty_bps=5_000,
    min_fee_per_gflop=100_000_000,
    max_task_share_bps=2_500,
    new_key_vesting_blocks=720,
)

NETWORKS: dict[str, ChainParams] = {"devnet": DEVNET, "testnet": TESTNET}
