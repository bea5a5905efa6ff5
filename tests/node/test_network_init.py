"""`potminer network validator | init | post-task`: the genesis ceremony end to end, and its refusals.

The happy path is real: a validator card from `network validator`, the chain's files from `network init`
read back by the chain-file loader, a `potminer node` process that finalises blocks on that genesis, and
the ceremony's signed first task published to it and taken into its chain.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main
from app.core.crypto import SigningKey
from app.core.genesis import genesis_block
from app.core.types import GRAINS_PER_POT
from app.node.ceremony import FIRST_TASK_FILE, load_first_task
from app.node.chainfiles import load_chain
from app.node.devnet import ephemeral_port_range, free_port
from app.node.keys import load_key, save_key
from app.node.status import read_status

ROOT = Path(__file__).resolve().parents[2]


def card(tmp: Path, name: str, capsys: pytest.CaptureFixture[str], bond: int = 1000, port: int | None = None) -> Path:
    extra = [] if port is None else ["--public-address", f"/ip4/127.0.0.1/tcp/{port}"]
    assert (
        main(
            [
                "network",
                "validator",
                "--key",
                str(tmp / name / "consensus.key"),
                "--datadir",
                str(tmp / name / "data"),
                "--bond",
                str(bond),
                "--card",
                str(tmp / f"{name}.card"),
                *extra,
            ]
        )
        == 0
    )
    capsys.readouterr()
    return tmp / f"{name}.card"


def init(tmp: Path, *args: str) -> list[str]:
    return ["network", "init", "--out", str(tmp / "chain"), "--base", "devnet", "--chain-id", "pot-ceremony-1", *args]


def test_cards_make_chain_files_a_node_runs_on_and_the_first_task_lands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    v0 = card(tmp_path, "v0", capsys, port=port)
    requester = SigningKey.generate()
    save_key(tmp_path / "requester.key", requester)
    assert (
        main(
            init(
                tmp_path,
                "--validator",
                str(v0),
                "--first-task-key",
                str(tmp_path / "requester.key"),
                "--first-task-rounds",
                "2",
            )
        )
        == 0
    )
    chain = load_chain("pot-ceremony-1", root=tmp_path / "chain")  # checksums, bootstrap and checkpoint agree
    consensus = load_key(tmp_path / "v0" / "consensus.key")
    assert [v.public_key for v in chain.genesis.validators] == [consensus.public_key]
    assert chain.genesis.validators[0].bond == 1000 * GRAINS_PER_POT
    assert chain.bootstrap[0].startswith(f"/ip4/127.0.0.1/tcp/{port}/p2p/12D3KooW")
    assert chain.checkpoint.header == genesis_block(chain.genesis)[0].header
    post = load_first_task(tmp_path / "chain" / FIRST_TASK_FILE)
    funded = dict((a.address, a.amount) for a in chain.genesis.allocations)[requester.address]
    assert funded == post.fee_per_round * post.spec.rounds + post.fee

    datadir = tmp_path / "v0" / "data"  # the node identity the card named, apart from the consensus key
    node = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "node",
            "--datadir",
            str(datadir),
            "--genesis",
            str(tmp_path / "chain" / "genesis.json"),
            "--key",
            str(tmp_path / "v0" / "consensus.key"),
            "--role",
            "validator",
            "--listen",
            f"/ip4/127.0.0.1/tcp/{port}",
            "--block-interval",
            "0.2",
            "--audit",
            "off",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: (read_status(datadir) or {}).get("height", 0) >= 2, node, "two blocks on the new genesis")
        assert (
            main(["network", "post-task", "--chain", str(tmp_path / "chain"), "--datadir", str(tmp_path / "poster")])
            == 0
        )
        assert f"task {post.tx_id.hex()} is in the chain" in capsys.readouterr().out
        _wait(
            lambda: any(t["task_id"] == post.tx_id.hex() for t in (read_status(datadir) or {}).get("tasks", [])),
            node,
            "the first task in the chain",
        )
    finally:
        node.terminate()
        node.wait(20)


def _wait(condition, node: subprocess.Popen[bytes], what: str, timeout_s: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert node.poll() is None, f"the node exited with {node.returncode} while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _refusal(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("potminer network ")
    return err


def test_bad_inputs_are_refused_in_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v0 = card(tmp_path, "v0", capsys)
    v1 = card(tmp_path, "v1", capsys)
    assert "at least one validator card" in _refusal(init(tmp_path), capsys)
    assert "cannot read validator card" in _refusal(init(tmp_path, "--validator", str(tmp_path / "none.card")), capsys)
    (tmp_path / "bad.card").write_text(
        json.dumps({"format": "pot-validator-card/1", "public_key": "ab", "bond": 1, "peer": None})
    )
    assert "64 hex digits" in _refusal(init(tmp_path, "--validator", str(tmp_path / "bad.card")), capsys)
    (tmp_path / "junk.card").write_text("{not json")
    assert "not JSON" in _refusal(init(tmp_path, "--validator", str(tmp_path / "junk.card")), capsys)
    assert "same public key" in _refusal(init(tmp_path, "--validator", str(v0), "--validator", str(v0)), capsys)
    assert "committee_size is 1" in _refusal(
        init(tmp_path, "--validator", str(v0), "--validator", str(v1), "--param", "committee_size=1"), capsys
    )
    assert "NAME=VALUE" in _refusal(init(tmp_path, "--validator", str(v0), "--param", "colour=blue"), capsys)
    assert "whole number" in _refusal(init(tmp_path, "--validator", str(v0), "--param", "min_bond=lots"), capsys)
    assert "below min_bond" in _refusal(
        init(tmp_path, "--validator", str(v0), "--param", f"min_bond={2000 * GRAINS_PER_POT}"), capsys
    )
    assert "ADDRESS_HEX:GRAINS" in _refusal(init(tmp_path, "--validator", str(v0), "--allocation", "zz:5"), capsys)
    assert "/p2p/ peer id" in _refusal(
        init(tmp_path, "--validator", str(v0), "--bootstrap", "/ip4/1.2.3.4/tcp/1"), capsys
    )
    save_key(tmp_path / "req.key", SigningKey.generate())
    assert "first task would be refused" in _refusal(
        init(tmp_path, "--validator", str(v0), "--first-task-key", str(tmp_path / "req.key"), "--first-task-fee", "1"),
        capsys,
    )
    (tmp_path / "chain").mkdir()
    (tmp_path / "chain" / "genesis.json").write_text("{}")
    assert "never overwrites" in _refusal(init(tmp_path, "--validator", str(v0)), capsys)
    assert "--public-address" in _refusal(
        [
            "network",
            "validator",
            "--key",
            str(tmp_path / "k"),
            "--datadir",
            str(tmp_path / "d"),
            "--bond",
            "5",
            "--public-address",
            "localhost:1",
            "--card",
            str(tmp_path / "c"),
        ],
        capsys,
    )


def test_devnet_ports_are_below_the_range_outgoing_connections_take() -> None:
    """An outgoing connection's local port can never be a devnet node's listening port."""
    low, _ = ephemeral_port_range()
    rng = random.Random(7)
    ports = [free_port(rng) for _ in range(20)]
    assert all(1024 <= p < low for p in ports)
    for p in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))  # free when chosen (nothing on this machine listens there)
