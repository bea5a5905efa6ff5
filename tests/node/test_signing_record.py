"""The node keeps its BFT signing record: loads it at start, refuses a bad one, saves it before signing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.core.bft import (
    BroadcastVote,
    PersistResumeState,
    PersistSigningState,
    ResumeRecord,
    ResumeStateStore,
    SigningRecord,
    SigningStateStore,
    Step,
)
from app.core.genesis import genesis_to_json
from app.core.types import NO_SIGNATURE, VOTE_PREVOTE, Vote
from app.node.keys import save_key
from app.node.node import RESUME_RECORD_FILE, SIGNING_RECORD_FILE, Node, NodeConfig, SigningRecordError
from tests.node.chainkit import KEYS, genesis

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, key_index: int = 0, role: str = "validator") -> NodeConfig:
    g = genesis()
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "genesis.json").write_text(genesis_to_json(g))
    save_key(tmp_path / "node.key", KEYS[key_index])
    return NodeConfig(
        datadir=tmp_path / "data", genesis_path=tmp_path / "genesis.json", key_path=tmp_path / "node.key", role=role
    )


def _record(member: bytes, chain_id: str, *, height: int = 3, locked: bool = True) -> SigningRecord:
    return SigningRecord(
        chain_id=chain_id,
        member=member,
        height=height,
        view=2,
        step=int(Step.PRECOMMIT),
        block_hash=b"\x07" * 32,
        locked_view=2 if locked else None,
        locked_hash=b"\x07" * 32 if locked else None,
    )


def _close(node: Node) -> None:
    node.chain.close()


def test_a_validator_starts_from_its_saved_record(tmp_path: Path) -> None:
    config = _config(tmp_path)
    chain_id = genesis().params.chain_id
    record = _record(KEYS[0].public_key, chain_id)
    SigningStateStore(config.datadir / SIGNING_RECORD_FILE).save(record)
    node = Node(config)
    try:
        assert node.engine.snapshot() == record
    finally:
        _close(node)


def test_a_fresh_validator_has_no_record_and_observers_keep_none(tmp_path: Path) -> None:
    node = Node(_config(tmp_path))
    try:
        assert node.engine.snapshot() is None and node.signing is not None
    finally:
        _close(node)
    full = Node(_config(tmp_path / "full", role="full"))
    try:
        assert full.signing is None
    finally:
        _close(full)


@pytest.mark.parametrize("damage", ["corrupt", "other-key", "other-chain"])
def test_an_untrustworthy_record_stops_the_start(tmp_path: Path, damage: str) -> None:
    config = _config(tmp_path)
    path = config.datadir / SIGNING_RECORD_FILE
    chain_id = genesis().params.chain_id
    if damage == "corrupt":
        SigningStateStore(path).save(_record(KEYS[0].public_key, chain_id))
        path.write_bytes(path.read_bytes()[:-3])
    elif damage == "other-key":
        SigningStateStore(path).save(_record(KEYS[1].public_key, chain_id))
    else:
        SigningStateStore(path).save(_record(KEYS[0].public_key, "another-chain"))
    with pytest.raises(SigningRecordError, match="refusing to start"):
        Node(config)


def test_the_node_command_refuses_a_corrupt_record_with_a_clear_message(tmp_path: Path) -> None:
    config = _config(tmp_path)
    path = config.datadir / SIGNING_RECORD_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xa1not a record")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "node",
            "--datadir",
            str(config.datadir),
            "--genesis",
            str(config.genesis_path),
            "--key",
            str(config.key_path),
            "--role",
            "validator",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert out.returncode == 2
    assert "signing record" in out.stderr and "corrupt" in out.stderr and "refusing to start" in out.stderr


def test_persist_actions_are_saved_durably_and_a_failed_save_stops_signing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    node = Node(config)
    chain_id = genesis().params.chain_id
    try:
        record = _record(KEYS[0].public_key, chain_id, height=1, locked=False)
        node._act([PersistSigningState(record)])
        assert SigningStateStore(config.datadir / SIGNING_RECORD_FILE).load() == record
        # a record that cannot be written: the node stops and the vote after it is never broadcast
        (config.datadir / SIGNING_RECORD_FILE).unlink()
        (config.datadir / SIGNING_RECORD_FILE).mkdir()
        vote = Vote(
            chain_id=chain_id,
            height=1,
            view=0,
            kind=VOTE_PREVOTE,
            block_hash=b"\x01" * 32,
            voter=KEYS[0].public_key,
            signature=NO_SIGNATURE,
        ).signed_by(KEYS[0])
        with pytest.raises(SigningRecordError, match="cannot save"):
            node._act([PersistSigningState(record), BroadcastVote(vote)])
        assert node.loop.stopping
    finally:
        _close(node)


def test_the_resume_record_is_saved_and_taken_back_and_a_bad_one_only_costs_liveness(tmp_path: Path) -> None:
    config = _config(tmp_path)
    chain_id = genesis().params.chain_id
    vote = Vote(
        chain_id=chain_id,
        height=1,
        view=0,
        kind=VOTE_PREVOTE,
        block_hash=b"\x01" * 32,
        voter=KEYS[0].public_key,
        signature=NO_SIGNATURE,
    ).signed_by(KEYS[0])
    resume = ResumeRecord(
        chain_id=chain_id, member=KEYS[0].public_key, height=1, proposal=None, pol_votes=(), own_votes=(vote,)
    )
    node = Node(config)
    try:
        node._act([PersistResumeState(resume)])
    finally:
        _close(node)
    assert ResumeStateStore(config.datadir / RESUME_RECORD_FILE).load() == resume
    again = Node(config)
    try:
        assert again.engine._resume_record == resume
    finally:
        _close(again)
    (config.datadir / RESUME_RECORD_FILE).write_bytes(b"\xa1junk")
    damaged = Node(config)  # starts: the signing record keeps it safe, the resume record only helps liveness
    try:
        assert damaged.engine._resume_record is None
    finally:
        _close(damaged)
