"""A chain's shipped files (genesis, bootstrap list, trusted checkpoint, checksums) and header sync from
the checkpoint: the real testnet files load, every kind of damage is refused naming the file, and a
checkpoint only ever lets through headers its committee signed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.core.consensus import make_qc
from app.core.errors import InvalidQuorumCertificate
from app.core.genesis import genesis_block
from app.core.types import NO_SIGNATURE, VOTE_PRECOMMIT, Committee, SignedHeader, Vote
from app.node.chainfiles import (
    ChainFilesError,
    Checkpoint,
    bootstrap_json,
    chain_dir,
    checkpoint_json,
    genesis_checkpoint,
    load_bootstrap,
    load_chain,
    load_checkpoint,
    write_sums,
)
from app.node.headers import HeaderChain, HeaderChainError
from tests.node.chainkit import KEYS, USER, chain

PEER = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"


def signed(block) -> SignedHeader:  # type: ignore[no-untyped-def]
    return SignedHeader(header=block.header, qc=block.qc)


def copy_testnet(tmp_path: Path) -> Path:
    folder = tmp_path / "testnet"
    shutil.copytree(chain_dir("testnet"), folder)
    return folder


def test_the_shipped_testnet_files_load_and_agree() -> None:
    files = load_chain("testnet")
    block0, state0 = genesis_block(files.genesis)
    assert files.genesis.params.chain_id == "pot-testnet-1"
    assert files.checkpoint.height == 0 and files.checkpoint.header_hash == block0.block_hash
    assert files.checkpoint.committee == state0.next_committee
    assert all(a.startswith("/") for a in files.bootstrap)


@pytest.mark.parametrize("name", ["genesis.json", "bootstrap.json", "checkpoint.json"])
def test_a_damaged_file_is_refused_by_its_checksum(tmp_path: Path, name: str) -> None:
    folder = copy_testnet(tmp_path)
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    with pytest.raises(ChainFilesError, match=f"{name} is damaged or altered"):
        load_chain("testnet", folder)


def test_missing_files_and_sums_are_named(tmp_path: Path) -> None:
    folder = copy_testnet(tmp_path)
    (folder / "bootstrap.json").unlink()
    with pytest.raises(ChainFilesError, match="bootstrap.json is missing"):
        load_chain("testnet", folder)
    (folder / "SHA256SUMS").write_text("not a sum line\n")
    with pytest.raises(ChainFilesError, match="SHA256SUMS line 1"):
        load_chain("testnet", folder)
    with pytest.raises(ChainFilesError, match="no chain files for 'nowhere'"):
        load_chain("nowhere", tmp_path / "nowhere")


def test_consistent_sums_do_not_excuse_a_checkpoint_of_another_genesis(tmp_path: Path) -> None:
    """Someone who rewrites the files and their sums still cannot pair the testnet with another chain."""
    folder = copy_testnet(tmp_path)
    g, _, _ = chain(1)
    (folder / "checkpoint.json").write_text(checkpoint_json(genesis_checkpoint(g)))
    write_sums(folder)
    with pytest.raises(ChainFilesError, match="checkpoint for chain 'pot-devnet"):
        load_chain("testnet", folder)


def test_a_newer_bootstrap_list_by_file(tmp_path: Path) -> None:
    path = tmp_path / "boot.json"
    path.write_text(bootstrap_json("pot-testnet-1", [PEER, PEER]))
    assert load_bootstrap(path, "pot-testnet-1") == (PEER,)
    with pytest.raises(ChainFilesError, match="for chain 'pot-testnet-1', not 'other'"):
        load_bootstrap(path, "other")
    path.write_text(bootstrap_json("pot-testnet-1", ["/ip4/1.2.3.4/tcp/1"]))
    with pytest.raises(ChainFilesError, match="peer 0: .*not a multiaddr with a /p2p/ peer id"):
        load_bootstrap(path, "pot-testnet-1")
    path.write_text("{ not json")
    with pytest.raises(ChainFilesError, match="boot.json: not valid JSON"):
        load_bootstrap(path, "pot-testnet-1")
    path.write_text(json.dumps({"format": "pot-bootstrap/1", "chain_id": "pot-testnet-1"}))
    with pytest.raises(ChainFilesError, match=r"missing keys \['peers'\]"):
        load_bootstrap(path, "pot-testnet-1")


def _checkpoint_at(height: int) -> tuple[object, Checkpoint]:
    g, _, state = chain(height)
    blocks = chain(height)[1]
    return g, Checkpoint(blocks[-1].header, state.next_committee)


def test_checkpoint_file_checks(tmp_path: Path) -> None:
    g, cp = _checkpoint_at(5)
    path = tmp_path / "checkpoint.json"
    path.write_text(checkpoint_json(cp))
    assert load_checkpoint(path, g) == cp  # type: ignore[arg-type]
    doc = json.loads(checkpoint_json(cp))
    for key, value, error in [
        ("header_hash", "00" * 32, "does not hash to header_hash"),
        ("height", 6, "height 6 but the header is at 5"),
        ("committee", {"epoch": 0, "members": [KEYS[0].public_key.hex()]}, "not the one the header announces"),
        ("header", "zz", "malformed checkpoint"),
    ]:
        path.write_text(json.dumps(doc | {key: value}))
        with pytest.raises(ChainFilesError, match=error):
            load_checkpoint(path, g)  # type: ignore[arg-type]


def test_header_sync_from_a_checkpoint_matches_sync_from_genesis() -> None:
    g, blocks, state = chain(30)  # crosses the devnet's 20-block epoch hand-over after the checkpoint
    _, cp = _checkpoint_at(12)
    assert cp.header_hash == blocks[11].block_hash
    from_genesis, from_cp = HeaderChain(g), HeaderChain(g, (cp.header, cp.committee))
    for b in blocks:
        from_genesis.extend(signed(b))
    for b in blocks[12:]:
        from_cp.extend(signed(b))
    assert from_cp.head == from_genesis.head and from_cp.head.block_hash == state.head_hash
    assert from_cp.committee == from_genesis.committee
    with pytest.raises(HeaderChainError, match="does not follow"):
        HeaderChain(g, (cp.header, cp.committee)).extend(signed(blocks[5]))


def test_a_checkpoint_naming_a_false_committee_lets_nothing_through() -> None:
    """A checkpoint whose committee is not the one its header announces is refused outright; and headers
    signed by keys outside the checkpoint's committee never verify."""
    g, blocks, _ = chain(14)
    _, cp = _checkpoint_at(12)
    liar = Committee(epoch=cp.committee.epoch, members=(KEYS[0].public_key,))
    with pytest.raises(HeaderChainError, match="does not announce its committee"):
        HeaderChain(g, (cp.header, liar))
    b = blocks[12]  # the real next header, its QC replaced by one a stranger signed three times
    forged = [
        Vote(
            chain_id=b.header.chain_id,
            height=b.header.height,
            view=0,
            kind=VOTE_PRECOMMIT,
            block_hash=b.block_hash,
            voter=USER.public_key,
            signature=NO_SIGNATURE,
        ).signed_by(USER)
    ] * 3
    hc = HeaderChain(g, (cp.header, cp.committee))
    with pytest.raises(InvalidQuorumCertificate):
        hc.extend(SignedHeader(header=b.header, qc=make_qc(forged)))
    hc.extend(signed(b))
    assert hc.height == 13
