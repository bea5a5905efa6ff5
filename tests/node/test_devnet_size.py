"""`potminer devnet --validators N`: the committee follows N, and a size the chain cannot take is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.core.genesis import genesis_block, load_genesis
from app.core.params import DEVNET
from app.core.types import MAX_COMMITTEE
from app.node.devnet import Devnet, DevnetConfig, devnet_params


def test_sixteen_validators_make_a_committee_of_sixteen(tmp_path: Path) -> None:
    net = Devnet(DevnetConfig(validators=16, miners=0, post_task=False, datadir=tmp_path))
    net.setup()  # keys, folders and genesis; no process is started
    genesis = load_genesis(tmp_path / "genesis.json")
    _, state = genesis_block(genesis)
    assert genesis.params.committee_size == 16
    assert len(state.committee.members) == 16
    assert set(state.committee.members) == {m.key.public_key for m in net.members.values()}


def test_four_or_fewer_keep_the_devnet_rules() -> None:
    assert devnet_params(4) == DEVNET and devnet_params(1) == DEVNET
    assert devnet_params(2, reward_vesting_blocks=3) == DEVNET.replace(reward_vesting_blocks=3)


@pytest.mark.parametrize("count", [0, -1, MAX_COMMITTEE + 1])
def test_a_size_the_chain_cannot_take_is_one_line(count: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devnet", "--validators", str(count)]) == 2  # the real CLI, before any process starts
    err = capsys.readouterr().err
    assert err == f"potminer devnet: a devnet needs 1 to {MAX_COMMITTEE} validators, not {count}\n"
    with pytest.raises(ValueError, match="1 to 128 validators"):
        Devnet(DevnetConfig(validators=count))
