"""Chain parameters: the minting schedule, epochs, shares, and refused parameter sets."""

from __future__ import annotations

import pytest

from app.core.encoding import UINT64_MAX
from app.core.errors import EncodingError
from app.core.params import DEVNET, NETWORKS, TESTNET, ChainParams

P = DEVNET.replace(initial_block_reward=1_000, halving_interval=10)


@pytest.mark.parametrize(
    ("height", "reward"),
    [(0, 0), (1, 1_000), (10, 1_000), (11, 500), (20, 500), (21, 250), (10 * 64, 0), (10 * 64 + 1, 0)],
)
def test_block_reward_halves_every_interval(height: int, reward: int) -> None:
    assert P.block_reward(height) == reward


def test_max_minted_is_the_sum_of_the_schedule() -> None:
    assert P.max_minted() == sum(P.block_reward(h) for h in range(1, 10 * 64 + 1))
    assert TESTNET.max_minted() < UINT64_MAX


@pytest.mark.parametrize(("height", "epoch", "end"), [(0, 0, False), (19, 0, True), (20, 1, False), (39, 1, True)])
def test_epochs(height: int, epoch: int, end: bool) -> None:
    assert (DEVNET.epoch_of(height), DEVNET.is_epoch_end(height)) == (epoch, end)


def test_validator_share_rounds_down() -> None:
    assert DEVNET.replace(validator_share_bps=1_000).validator_share(999) == 99
    assert DEVNET.replace(validator_share_bps=10_000).validator_share(999) == 999


def test_networks_have_their_own_chain_and_prefix() -> None:
    assert (NETWORKS["devnet"].address_hrp, NETWORKS["testnet"].address_hrp) == ("potd", "pott")
    assert DEVNET.chain_id != TESTNET.chain_id
    assert ChainParams.decode(TESTNET.encode()) == TESTNET


@pytest.mark.parametrize(
    "changes",
    [
        {"epoch_length": 0},
        {"committee_size": 0},
        {"committee_size": 129},
        {"validator_share_bps": 10_001},
        {"max_block_bytes": 8 * 1024 * 1024},
        {"halving_interval": 0},
        {"min_bond": 0},
    ],
)
def test_out_of_range_parameters_are_refused(changes: dict) -> None:
    with pytest.raises(EncodingError):
        DEVNET.replace(**changes)


@pytest.mark.parametrize("changes", [{"chain_id": ""}, {"address_hrp": "POT"}, {"address_hrp": ""}])
def test_bad_names_are_refused(changes: dict) -> None:
    with pytest.raises(ValueError):
        DEVNET.replace(**changes)
