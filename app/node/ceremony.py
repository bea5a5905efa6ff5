"""The genesis ceremony of a new network (`potminer network init`): validators' keys and bonds in, chain files out.

Each future validator runs `potminer network validator` on its own machine: it makes (or reuses) the
validator's consensus key, a file apart from the node's libp2p identity (`<datadir>/p2p.key`), and
writes a small public card: the consensus public key, the bond it asks for and, if it will accept
connections, its bootstrap address with its peer id. Only cards travel to the coordinator; no secret
leaves a validator's machine. The coordinator runs `potminer network init` with the cards, the
parameters (a base network's rules with overrides) and optionally the first task; it writes the
chain's files in the form `app/node/chainfiles.py` loads: `genesis.json`, `bootstrap.json`,
`checkpoint.json` (the genesis block) and `SHA256SUMS`, plus `first-task.tx` when a first task is asked for.
Every bad input is a `CeremonyError` whose message names the input.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core import crypto
from app.core.admission import InadmissibleTask, check_task_post, min_fee_per_round
from app.core.errors import PotError
from app.core.genesis import Allocation, Genesis, GenesisValidator, InvalidGenesis, genesis_to_json
from app.core.params import NETWORKS, ChainParams
from app.core.types import NO_SIGNATURE, TaskPost, TaskSpec
from app.net.host import parse_peer_addr
from app.node.chainfiles import bootstrap_json, checkpoint_json, genesis_checkpoint, write_sums

CARD_FORMAT = "pot-validator-card/1"
FIRST_TASK_FILE = "first-task.tx"


class CeremonyError(ValueError):
    """A ceremony input that cannot make a valid network; the message says which and why."""


@dataclass(frozen=True)
class ValidatorCard:
    """What one validator hands the coordinator: public key, bond, and (optionally) its bootstrap address."""

    public_key: bytes
    bond: int
    peer: str | None = None

    def to_json(self) -> str:
        return (
            json.dumps(
                {"format": CARD_FORMAT, "public_key": self.public_key.hex(), "bond": self.bond, "peer": self.peer},
                indent=2,
            )
            + "\n"
        )


@dataclass(frozen=True)
class Ceremony:
    """Everything `write_network` puts on disk."""

    genesis: Genesis
    bootstrap: tuple[str, ...]
    first_task: TaskPost | None


def parse_card(text: str, where: str) -> ValidatorCard:
    """A validator card (JSON written by `potminer network validator`)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CeremonyError(f"{where}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or set(doc) != {"format", "public_key", "bond", "peer"}:
        raise CeremonyError(f"{where}: a validator card has exactly format, public_key, bond and peer")
    if doc["format"] != CARD_FORMAT:
        raise CeremonyError(f"{where}: unknown format {doc['format']!r} (expected {CARD_FORMAT})")
    key = _public_key(doc["public_key"], where)
    if not isinstance(doc["bond"], int) or isinstance(doc["bond"], bool) or doc["bond"] <= 0:
        raise CeremonyError(f"{where}: bond must be a positive whole number of grains")
    peer = doc["peer"]
    if peer is not None:
        if not isinstance(peer, str):
            raise CeremonyError(f"{where}: peer must be a multiaddr or null")
        _peer(peer, where)
    return ValidatorCard(key, doc["bond"], peer)


def parse_params(base: str, overrides: Sequence[str]) -> ChainParams:
    """A base network's rules (`devnet` or `testnet`) with `NAME=VALUE` overrides of its fields."""
    if base not in NETWORKS:
        raise CeremonyError(f"unknown base network {base!r} (choose from {', '.join(sorted(NETWORKS))})")
    fields = {f.name: f for f in dataclasses.fields(ChainParams)}
    changes: dict[str, object] = {}
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise CeremonyError(f"--param {item!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(fields))}")
        if name in ("chain_id", "address_hrp"):
            changes[name] = value
        else:
            try:
                changes[name] = int(value)
            except ValueError:
                raise CeremonyError(f"--param {item!r}: {name} takes a whole number") from None
    try:
        return NETWORKS[base].replace(**changes)
    except (ValueError, TypeError, PotError) as exc:
        raise CeremonyError(f"the parameters are invalid: {exc}") from None


def parse_allocation(item: str) -> tuple[bytes, int]:
    """`ADDRESS_HEX:GRAINS` -> (20-byte address, amount)."""
    address, sep, amount = item.partition(":")
    try:
        raw = bytes.fromhex(address)
        value = int(amount)
    except ValueError:
        raw, value = b"", -1
    if not sep or len(raw) != 20 or value <= 0:
        raise CeremonyError(f"--allocation {item!r}: expected ADDRESS_HEX:GRAINS (20-byte hex address, amount > 0)")
    return raw, value


def make_ceremony(
    params: ChainParams,
    cards: Sequence[ValidatorCard],
    allocations: Sequence[tuple[bytes, int]] = (),
    extra_peers: Sequence[str] = (),
    timestamp_ms: int | None = None,
    first_task: tuple[crypto.SigningKey, TaskSpec, int] | None = None,
) -> Ceremony:
    """The genesis, bootstrap list and (optionally) signed first task; `first_task` is (requester, spec, fee_per_round).

    The requester of a first task is funded in the genesis with the task's whole escrow plus its fee,
    unless an allocation already gives its address at least that much.
    """
    if not cards:
        raise CeremonyError("a network needs at least one validator card")
    if len(cards) > params.committee_size:
        raise CeremonyError(
            f"{len(cards)} validators but committee_size is {params.committee_size} "
            f"(raise it with --param committee_size={len(cards)})"
        )
    keys = [c.public_key for c in cards]
    if len(set(keys)) != len(keys):
        raise CeremonyError("two validator cards have the same public key")
    balances: dict[bytes, int] = {}
    for address, amount in allocations:
        if address in balances:
            raise CeremonyError(f"address {address.hex()} is allocated twice")
        balances[address] = amount
    post = None
    if first_task is not None:
        requester, spec, fee_per_round = first_task
        try:
            check_task_post(spec, fee_per_round, params.min_fee_per_gflop)
        except InadmissibleTask as exc:
            raise CeremonyError(
                f"the first task would be refused: {exc} (the least fee per round is "
                f"{min_fee_per_round(spec, params.min_fee_per_gflop)} grains)"
            ) from None
        fee = 1_000
        unsigned = TaskPost(
            chain_id=params.chain_id,
            sender=requester.public_key,
            nonce=0,
            spec=spec,
            fee_per_round=fee_per_round,
            fee=fee,
            signature=NO_SIGNATURE,
        )
        post = unsigned.signed_by(requester)
        need = fee_per_round * spec.rounds + fee
        balances[requester.address] = max(balances.get(requester.address, 0), need)
    validators = tuple(
        sorted((GenesisValidator(c.public_key, c.bond) for c in cards), key=lambda v: crypto.key_hash(v.public_key))
    )
    stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    try:
        genesis = Genesis(
            params=params,
            timestamp_ms=stamp,
            validators=validators,
            allocations=tuple(Allocation(a, n) for a, n in sorted(balances.items())),
        )
    except (InvalidGenesis, ValueError, PotError) as exc:
        raise CeremonyError(f"the genesis would be invalid: {exc}") from None
    peers = [c.peer for c in cards if c.peer is not None]
    for peer in extra_peers:
        _peer(peer, "--bootstrap")
        peers.append(peer)
    return Ceremony(genesis, tuple(dict.fromkeys(peers)), post)


def write_network(out: Path, ceremony: Ceremony) -> list[Path]:
    """Write the chain's files into `out` (which must be absent or empty); returns the paths written."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CeremonyError(f"{out} exists and is not an empty folder: a ceremony never overwrites a chain's files")
    out.mkdir(parents=True, exist_ok=True)
    g = ceremony.genesis
    (out / "genesis.json").write_text(genesis_to_json(g), encoding="utf-8")
    (out / "bootstrap.json").write_text(bootstrap_json(g.params.chain_id, list(ceremony.bootstrap)), encoding="utf-8")
    (out / "checkpoint.json").write_text(checkpoint_json(genesis_checkpoint(g)), encoding="utf-8")
    write_sums(out)
    written = [out / n for n in ("genesis.json", "bootstrap.json", "checkpoint.json", "SHA256SUMS")]
    if ceremony.first_task is not None:
        (out / FIRST_TASK_FILE).write_text(ceremony.first_task.encode().hex() + "\n", encoding="ascii")
        written.append(out / FIRST_TASK_FILE)
    return written


def load_first_task(path: Path) -> TaskPost:
    """The signed first task written by `write_network`."""
    try:
        return TaskPost.decode(bytes.fromhex(path.read_text(encoding="ascii").strip()))
    except OSError as exc:
        raise CeremonyError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError, PotError) as exc:
        raise CeremonyError(f"{path} does not hold a signed task post: {exc}") from None


def _public_key(text: object, where: str) -> bytes:
    try:
        key = bytes.fromhex(text) if isinstance(text, str) else b""
    except ValueError:
        key = b""
    if len(key) != 32:
        raise CeremonyError(f"{where}: public_key must be 64 hex digits (an Ed25519 public key)")
    return key


def _peer(addr: str, where: str) -> None:
    try:
        parse_peer_addr(addr)
    except ValueError as exc:
        raise CeremonyError(f"{where}: {exc}") from None
