"""The genesis document: a chain's rules, first balances and first committee, and block 0 from it.

The genesis block's `prev_hash` is the genesis document's hash, so block 0 (and through it every later
block) commits to the parameters and allocations, not only to the state they produce. Devnets are
generated locally (`make_devnet_genesis`); the testnet's document is fixed in
resources/chains/testnet/genesis.json and a test pins its hash.

The JSON form is strict (unknown or missing keys are refused) and has exactly one text per document,
so the file's bytes can be pinned too.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from app.core import crypto
from app.core.accounts import Account
from app.core.encoding import UINT64_MAX, Bytes20, MaxLen, PublicKey32, Record, Uint64
from app.core.errors import EncodingError, PotError
from app.core.hashing import DOMAIN_GENESIS, ZERO_HASH, tagged_hash
from app.core.params import DEVNET, ChainParams
from app.core.state import ChainMeta, ChainState
from app.core.types import MAX_COMMITTEE, Block, BlockBody, BlockHeader, Committee
from app.core.validators import elect_committee

MAX_ALLOCATIONS = 100_000
JSON_FORMAT = "pot-genesis/1"
CHAINS_DIR = Path(__file__).resolve().parents[2] / "resources" / "chains"
NO_PROPOSER = bytes(32)  # block 0 has no proposer and no quorum certificate


class InvalidGenesis(PotError):
    """A genesis document that breaks a rule (order, duplicates, bonds, supply bound, JSON shape)."""


@dataclass(frozen=True)
class Allocation(Record):
    TAG = 55
    address: Bytes20
    amount: Uint64


@dataclass(frozen=True)
class GenesisValidator(Record):
    """A first-committee member and the bond locked for it at genesis."""

    TAG = 56
    public_key: PublicKey32
    bond: Uint64


@dataclass(frozen=True)
class Genesis(Record):
    """Rules, time, balances (sorted by address) and first committee (sorted by address)."""

    TAG = 50
    params: ChainParams
    timestamp_ms: Uint64
    allocations: Annotated[tuple[Allocation, ...], MaxLen(MAX_ALLOCATIONS)]
    validators: Annotated[tuple[GenesisValidator, ...], MaxLen(MAX_COMMITTEE)]

    def __post_init__(self) -> None:
        super().__post_init__()
        addresses = [a.address for a in self.allocations]
        if addresses != sorted(set(addresses)):
            raise InvalidGenesis("allocations must be sorted by address without duplicates")
        keys = [crypto.key_hash(v.public_key) for v in self.validators]
        if keys != sorted(set(keys)):
            raise InvalidGenesis("validators must be sorted by address without duplicates")
        if not 1 <= len(self.validators) <= self.params.committee_size:
            raise InvalidGenesis(f"the first committee needs 1 to {self.params.committee_size} validators")
        for v in self.validators:
            if v.bond < self.params.min_bond:
                raise InvalidGenesis(f"validator bond {v.bond} is below min_bond {self.params.min_bond}")
        if self.supply + self.params.max_minted() > UINT64_MAX:
            raise InvalidGenesis("genesis supply plus all future minting would overflow 64 bits")

    @property
    def supply(self) -> int:
        return sum(a.amount for a in self.allocations) + sum(v.bond for v in self.validators)

    @property
    def genesis_hash(self) -> bytes:
        return tagged_hash(DOMAIN_GENESIS, self.encode())


def make_devnet_genesis(
    validator_keys: Sequence[bytes],
    allocations: Mapping[bytes, int],
    *,
    params: ChainParams = DEVNET,
    timestamp_ms: int | None = None,
    bond: int | None = None,
) -> Genesis:
    """A genesis for a locally generated network: each validator bonded with `bond` (default min_bond)."""
    bond = params.min_bond if bond is None else bond
    validators = sorted(
        (GenesisValidator(k, bond) for k in validator_keys), key=lambda v: crypto.key_hash(v.public_key)
    )
    allocs = tuple(Allocation(address, amount) for address, amount in sorted(allocations.items()))
    stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return Genesis(params=params, timestamp_ms=stamp, allocations=allocs, validators=tuple(validators))


def genesis_block(genesis: Genesis) -> tuple[Block, ChainState]:
    """Block 0 (no QC) and the state after it."""
    params = genesis.params
    accounts: dict[bytes, Account] = {}
    for a in genesis.allocations:
        accounts[a.address] = Account(balance=a.amount, nonce=0, bond=0, work=0, public_key=None)
    for v in genesis.validators:
        address = crypto.key_hash(v.public_key)
        base = accounts.get(address, Account(balance=0, nonce=0, bond=0, work=0, public_key=None))
        accounts[address] = dataclasses.replace(base, bond=v.bond, public_key=v.public_key)
    accounts = {k: v for k, v in accounts.items() if not v.is_empty()}
    committee = Committee(epoch=0, members=tuple(v.public_key for v in genesis.validators))
    next_committee = elect_committee(params, accounts, committee, 1) if params.is_epoch_end(0) else committee
    meta = ChainMeta(
        chain_id=params.chain_id,
        height=0,
        epoch=0,
        timestamp_ms=genesis.timestamp_ms,
        genesis_supply=genesis.supply,
        minted=0,
    )
    state = ChainState.create(params, meta, committee, next_committee, accounts, {}, ZERO_HASH)
    header = BlockHeader(
        chain_id=params.chain_id,
        height=0,
        prev_hash=genesis.genesis_hash,
        epoch=0,
        view=0,
        timestamp_ms=genesis.timestamp_ms,
        state_root=state.state_root,
        txs_root=ZERO_HASH,
        receipts_root=ZERO_HASH,
        results_root=ZERO_HASH,
        rewards_root=ZERO_HASH,
        evidence_root=ZERO_HASH,
        next_committee_hash=next_committee.committee_hash,
        proposer=NO_PROPOSER,
    )
    block = Block(header=header, body=BlockBody((), (), (), (), ()), qc=None)
    return block, state.with_head(block.block_hash)


# --------------------------------------------------------------------------- JSON form


def genesis_to_json(genesis: Genesis) -> str:
    """The one JSON text of a genesis document (sorted keys, two-space indent, final newline)."""
    doc = {
        "format": JSON_FORMAT,
        "params": {f.name: getattr(genesis.params, f.name) for f in dataclasses.fields(ChainParams)},
        "timestamp_ms": genesis.timestamp_ms,
        "allocations": [{"address": a.address.hex(), "amount": a.amount} for a in genesis.allocations],
        "validators": [{"public_key": v.public_key.hex(), "bond": v.bond} for v in genesis.validators],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def genesis_from_json(text: str) -> Genesis:
    """Parse the JSON form, refusing unknown or missing keys and wrong types with `InvalidGenesis`."""
    try:
        doc = json.loads(text)
        _keys(doc, {"format", "params", "timestamp_ms", "allocations", "validators"}, "genesis")
        if doc["format"] != JSON_FORMAT:
            raise InvalidGenesis(f"unknown genesis format {doc['format']!r}")
        _keys(doc["params"], {f.name for f in dataclasses.fields(ChainParams)}, "params")
        params = ChainParams(**doc["params"])
        allocations = tuple(
            Allocation(bytes.fromhex(_keys(a, {"address", "amount"}, "allocation")["address"]), a["amount"])
            for a in _list(doc["allocations"], "allocations")
        )
        validators = tuple(
            GenesisValidator(bytes.fromhex(_keys(v, {"public_key", "bond"}, "validator")["public_key"]), v["bond"])
            for v in _list(doc["validators"], "validators")
        )
        return Genesis(params=params, timestamp_ms=doc["timestamp_ms"], allocations=allocations, validators=validators)
    except InvalidGenesis:
        raise
    except (ValueError, TypeError, EncodingError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidGenesis(f"malformed genesis JSON: {exc}") from None


def load_genesis(path: Path) -> Genesis:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidGenesis(f"cannot read {path}: {exc.strerror}") from None
    return genesis_from_json(text)


def network_genesis(network: str) -> Genesis:
    """The fixed genesis of a named public network (only "testnet" so far)."""
    if network not in ("testnet",):
        raise InvalidGenesis(f"no fixed genesis for network {network!r} (devnets are generated locally)")
    return load_genesis(CHAINS_DIR / network / "genesis.json")


def _keys(obj: Any, expected: set[str], where: str) -> Any:
    if not isinstance(obj, dict):
        raise InvalidGenesis(f"{where} must be a JSON object")
    if set(obj) != expected:
        raise InvalidGenesis(f"{where} keys {sorted(obj)} are not {sorted(expected)}")
    return obj


def _list(obj: Any, where: str) -> list[Any]:
    if not isinstance(obj, list):
        raise InvalidGenesis(f"{where} must be a JSON array")
    return obj
