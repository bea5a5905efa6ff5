"""A network's shipped files: genesis, bootstrap list and trusted checkpoint, checked before use.

`resources/chains/<name>/` holds `genesis.json`, `bootstrap.json` (peer multiaddrs), `checkpoint.json`
(a height, that header in full, its hash and the committee that signs the header after it) and
`SHA256SUMS` over the three. A damaged or mismatched file is a `ChainFilesError` that names the file
and what is wrong with it: a volunteer must never follow a chain the shipped files do not describe.
A newer bootstrap list can be given by file (`--bootstrap-file`); it is checked the same way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import EncodingError
from app.core.genesis import CHAINS_DIR, Genesis, InvalidGenesis, genesis_block, load_genesis
from app.core.types import BlockHeader, Committee
from app.net.host import parse_peer_addr

BOOTSTRAP_FORMAT = "pot-bootstrap/1"
CHECKPOINT_FORMAT = "pot-checkpoint/1"
SUMS = "SHA256SUMS"
FILES = ("genesis.json", "bootstrap.json", "checkpoint.json")
MAX_FILE_BYTES = 1 << 20
MAX_PEERS = 256


class ChainFilesError(ValueError):
    """A chain file that is missing, damaged or does not match the others; the message names it."""


class OtherChainFile(ChainFilesError):
    """A chain file made for another chain (a list kept from before the volunteer switched networks)."""


@dataclass(frozen=True)
class Checkpoint:
    """A verified header to start header sync from, and the committee that signs the next header."""

    header: BlockHeader
    committee: Committee

    @property
    def height(self) -> int:
        return self.header.height

    @property
    def header_hash(self) -> bytes:
        return self.header.block_hash


@dataclass(frozen=True)
class ChainFiles:
    name: str
    genesis: Genesis
    bootstrap: tuple[str, ...]
    checkpoint: Checkpoint


def chain_dir(name: str) -> Path:
    return CHAINS_DIR / name


def load_chain(name: str, root: Path | None = None) -> ChainFiles:
    """The files of chain `name` (from `root`, else the shipped folder), checksums and links checked."""
    folder = root if root is not None else chain_dir(name)
    if not folder.is_dir():
        raise ChainFilesError(f"no chain files for {name!r} (looked in {folder})")
    check_sums(folder)
    try:
        genesis = load_genesis(folder / "genesis.json")
    except InvalidGenesis as exc:
        raise ChainFilesError(f"{folder / 'genesis.json'}: {exc}") from None
    bootstrap = load_bootstrap(folder / "bootstrap.json", genesis.params.chain_id)
    checkpoint = load_checkpoint(folder / "checkpoint.json", genesis)
    return ChainFiles(name, genesis, bootstrap, checkpoint)


def check_sums(folder: Path) -> None:
    """Every file of `FILES` is listed in SHA256SUMS and matches it."""
    text = _read(folder / SUMS)
    sums: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ChainFilesError(f"{folder / SUMS} line {n}: expected '<sha256 hex>  <file name>'")
        sums[parts[1].lstrip("*")] = parts[0].lower()
    for name in FILES:
        if name not in sums:
            raise ChainFilesError(f"{folder / SUMS} does not list {name}")
        if not (folder / name).is_file():
            raise ChainFilesError(f"{folder / name} is missing")
        actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if actual != sums[name]:
            raise ChainFilesError(
                f"{folder / name} is damaged or altered: its SHA-256 is {actual[:16]}..., "
                f"{SUMS} says {sums[name][:16]}..."
            )


def write_sums(folder: Path) -> None:
    """(Re)write SHA256SUMS for the chain files in `folder` (used when a chain's files are made)."""
    lines = [f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in FILES]
    (folder / SUMS).write_text("".join(lines), encoding="utf-8")


def load_bootstrap(path: Path, chain_id: str) -> tuple[str, ...]:
    """A bootstrap list (the shipped one or a newer one given by file) for chain `chain_id`."""
    doc = _json(path)
    _keys(doc, {"format", "chain_id", "peers"}, path)
    if doc["format"] != BOOTSTRAP_FORMAT:
        raise ChainFilesError(f"{path}: unknown format {doc['format']!r} (expected {BOOTSTRAP_FORMAT})")
    if doc["chain_id"] != chain_id:
        raise OtherChainFile(f"{path}: a bootstrap list for chain {doc['chain_id']!r}, not {chain_id!r}")
    peers = doc["peers"]
    if not isinstance(peers, list) or len(peers) > MAX_PEERS:
        raise ChainFilesError(f"{path}: 'peers' must be a list of at most {MAX_PEERS} multiaddrs")
    for i, addr in enumerate(peers):
        if not isinstance(addr, str):
            raise ChainFilesError(f"{path}: peer {i} is not text")
        try:
            parse_peer_addr(addr)
        except ValueError as exc:
            raise ChainFilesError(f"{path}: peer {i}: {exc}") from None
    return tuple(dict.fromkeys(peers))


def bootstrap_json(chain_id: str, peers: list[str]) -> str:
    return json.dumps({"format": BOOTSTRAP_FORMAT, "chain_id": chain_id, "peers": peers}, indent=2) + "\n"


def load_checkpoint(path: Path, genesis: Genesis) -> Checkpoint:
    """The trusted checkpoint: its header must hash to the stated hash, carry the chain's id, and
    announce (next_committee_hash) exactly the committee stated; at height 0 it must be the genesis."""
    doc = _json(path)
    _keys(doc, {"format", "chain_id", "height", "header_hash", "header", "committee"}, path)
    if doc["format"] != CHECKPOINT_FORMAT:
        raise ChainFilesError(f"{path}: unknown format {doc['format']!r} (expected {CHECKPOINT_FORMAT})")
    try:
        header = BlockHeader.decode(bytes.fromhex(doc["header"]))
        stated = bytes.fromhex(doc["header_hash"])
        c = doc["committee"]
        _keys(c, {"epoch", "members"}, path)
        committee = Committee(epoch=c["epoch"], members=tuple(bytes.fromhex(m) for m in c["members"]))
    except (ValueError, TypeError, EncodingError) as exc:
        raise ChainFilesError(f"{path}: malformed checkpoint: {exc}") from None
    chain_id = genesis.params.chain_id
    if doc["chain_id"] != chain_id or header.chain_id != chain_id:
        raise ChainFilesError(f"{path}: a checkpoint for chain {doc['chain_id']!r}, not {chain_id!r}")
    if header.block_hash != stated:
        raise ChainFilesError(f"{path}: the header does not hash to header_hash")
    if doc["height"] != header.height:
        raise ChainFilesError(f"{path}: height {doc['height']} but the header is at {header.height}")
    if committee.committee_hash != header.next_committee_hash:
        raise ChainFilesError(f"{path}: the committee is not the one the header announces")
    if not committee.members:
        raise ChainFilesError(f"{path}: the committee has no members")
    if header.height == 0 and header.block_hash != genesis_block(genesis)[0].block_hash:
        raise ChainFilesError(f"{path}: a height-0 checkpoint must be the genesis block")
    return Checkpoint(header, committee)


def checkpoint_json(checkpoint: Checkpoint) -> str:
    h, c = checkpoint.header, checkpoint.committee
    return (
        json.dumps(
            {
                "format": CHECKPOINT_FORMAT,
                "chain_id": h.chain_id,
                "height": h.height,
                "header_hash": h.block_hash.hex(),
                "header": h.encode().hex(),
                "committee": {"epoch": c.epoch, "members": [m.hex() for m in c.members]},
            },
            indent=2,
        )
        + "\n"
    )


def genesis_checkpoint(genesis: Genesis) -> Checkpoint:
    """The checkpoint every chain has: its genesis header and first committee."""
    block, state = genesis_block(genesis)
    return Checkpoint(block.header, state.next_committee)


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ChainFilesError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ChainFilesError(f"{path} is missing") from None
    except UnicodeDecodeError:
        raise ChainFilesError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise ChainFilesError(f"cannot read {path}: {exc.strerror}") from None


def _json(path: Path) -> Any:
    try:
        return json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise ChainFilesError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _keys(obj: Any, expected: set[str], path: Path) -> None:
    if not isinstance(obj, dict):
        raise ChainFilesError(f"{path}: expected a JSON object")
    missing, extra = expected - obj.keys(), obj.keys() - expected
    if missing or extra:
        raise ChainFilesError(f"{path}: missing keys {sorted(missing)} / unknown keys {sorted(extra)}")
