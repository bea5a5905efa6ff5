"""Genesis documents: the pinned testnet file, block 0, devnet generation, and refused documents."""

from __future__ import annotations

import hashlib
import json

import pytest

from app.core import crypto
from app.core.crypto import SigningKey
from app.core.genesis import (
    CHAINS_DIR,
    Allocation,
    Genesis,
    GenesisValidator,
    InvalidGenesis,
    genesis_block,
    genesis_from_json,
    genesis_to_json,
    load_genesis,
    make_devnet_genesis,
    network_genesis,
)
from app.core.hashing import ZERO_HASH
from app.core.params import DEVNET, TESTNET
from app.core.state import ChainState
from tests.core.chainkit import key

# Changing the testnet genesis forks the testnet: update this pin only on purpose.
TESTNET_GENESIS_HASH = "9e3648cea3001d14120af7e1159bff8a71a1a9965348cfdf1e0b5f356523da92"


def _seeded(label: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(label.encode()).digest())


def test_testnet_genesis_is_pinned_and_its_file_canonical() -> None:
    path = CHAINS_DIR / "testnet" / "genesis.json"
    genesis = network_genesis("testnet")
    assert genesis.genesis_hash.hex() == TESTNET_GENESIS_HASH
    assert genesis_to_json(genesis) == path.read_text(encoding="utf-8")
    assert genesis.params == TESTNET


def test_testnet_keys_come_from_the_published_seeds() -> None:
    genesis = network_genesis("testnet")
    validators = {_seeded(f"pot-testnet-1/validator/{i}").public_key for i in range(4)}
    assert {v.public_key for v in genesis.validators} == validators
    assert [a.address for a in genesis.allocations] == [_seeded("pot-testnet-1/faucet").address]


def test_genesis_block_commits_to_the_document_and_its_state() -> None:
    genesis = network_genesis("testnet")
    block, state = genesis_block(genesis)
    header = block.header
    assert (header.height, header.epoch, block.qc) == (0, 0, None)
    assert header.prev_hash == genesis.genesis_hash
    assert header.state_root == state.state_root and state.head_hash == block.block_hash
    assert header.txs_root == ZERO_HASH and header.next_committee_hash == state.next_committee.committee_hash
    assert state.total_held() == genesis.supply and state.meta.genesis_supply == genesis.supply
    assert set(state.committee.members) == {v.public_key for v in genesis.validators}
    for v in genesis.validators:
        assert state.account(crypto.key_hash(v.public_key)).bond == v.bond
    assert ChainState.from_entries(TESTNET, state.entries()).state_root == header.state_root


def test_devnet_genesis_round_trips_through_json_and_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    validators = [key(f"v{i}").public_key for i in range(3)]
    genesis = make_devnet_genesis(validators, {key("u").address: 5, key("w").address: 7}, timestamp_ms=42)
    assert [crypto.key_hash(v.public_key) for v in genesis.validators] == sorted(crypto.key_hash(k) for k in validators)
    assert genesis.supply == 12 + 3 * DEVNET.min_bond
    path = tmp_path / "genesis.json"
    path.write_text(genesis_to_json(genesis), encoding="utf-8")
    assert load_genesis(path) == genesis
    assert Genesis.decode(genesis.encode()) == genesis


def test_a_validator_with_an_allocation_keeps_both() -> None:
    v = key("v0")
    genesis = make_devnet_genesis([v.public_key], {v.address: 9}, timestamp_ms=1)
    _, state = genesis_block(genesis)
    acct = state.account(v.address)
    assert (acct.balance, acct.bond, acct.public_key) == (9, DEVNET.min_bond, v.public_key)


def test_epoch_of_one_block_elects_at_genesis() -> None:
    params = DEVNET.replace(epoch_length=1)
    _, state = genesis_block(make_devnet_genesis([key("v0").public_key], {}, params=params, timestamp_ms=1))
    assert state.next_committee.epoch == 1 and state.next_committee.members == state.committee.members


V0, V1 = sorted(
    (GenesisValidator(key(n).public_key, DEVNET.min_bond) for n in ("v0", "v1")),
    key=lambda v: crypto.key_hash(v.public_key),
)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"allocations": (Allocation(b"\x02" * 20, 1), Allocation(b"\x01" * 20, 1))}, "sorted"),
        ({"allocations": (Allocation(b"\x01" * 20, 1), Allocation(b"\x01" * 20, 2))}, "sorted"),
        ({"validators": (V1, V0)}, "sorted"),
        ({"validators": ()}, "first committee"),
        ({"validators": (V0.replace(bond=1),)}, "min_bond"),
        ({"allocations": (Allocation(b"\x01" * 20, 2**64 - 1),)}, "overflow"),
    ],
    ids=[
        "unsorted-allocations",
        "duplicate-allocation",
        "unsorted-validators",
        "no-validators",
        "low-bond",
        "supply-overflow",
    ],
)
def test_invalid_genesis_documents_are_refused(kwargs: dict, match: str) -> None:
    fields = {"params": DEVNET, "timestamp_ms": 1, "allocations": (), "validators": (V0, V1)}
    fields.update(kwargs)
    with pytest.raises(InvalidGenesis, match=match):
        Genesis(**fields)


def test_too_many_validators_for_the_committee_size_are_refused() -> None:
    keys = [key(f"v{i}").public_key for i in range(DEVNET.committee_size + 1)]
    with pytest.raises(InvalidGenesis, match="first committee"):
        make_devnet_genesis(keys, {}, timestamp_ms=1)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(extra=1),
        lambda d: d.update(format="pot-genesis/9"),
        lambda d: d["params"].pop("min_bond"),
        lambda d: d["allocations"].append({"address": "00" * 20, "amount": 1.5}),
        lambda d: d["allocations"].append({"address": "zz", "amount": 1}),
        lambda d: d["validators"][0].update(bond=True),
        lambda d: d.update(validators={}),
    ],
    ids=["unknown-key", "format", "missing-param", "float", "bad-hex", "bool", "not-a-list"],
)
def test_malformed_genesis_json_is_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(genesis_to_json(network_genesis("testnet")))
    mutate(doc)
    with pytest.raises(InvalidGenesis):
        genesis_from_json(json.dumps(doc))


def test_unknown_network_and_unreadable_file_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidGenesis, match="devnet"):
        network_genesis("devnet")
    with pytest.raises(InvalidGenesis, match="cannot read"):
        load_genesis(tmp_path / "missing.json")
    with pytest.raises(InvalidGenesis, match="malformed"):
        genesis_from_json("{not json")
