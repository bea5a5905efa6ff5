"""The reach decision, and where a daemon's bootstrap peers come from (a damaged list is a one-line
refusal). The real daemon with an unreachable list, its CLI and its window: tests/ui/test_window_island.py."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from libp2p.crypto.ed25519 import create_new_key_pair

from app import config as cfg
from app.core.genesis import CHAINS_DIR
from app.daemon.daemon import DaemonOptions
from app.daemon.node_setup import NodeSetupError, bootstrap_peers
from app.daemon.reach import CONNECTED, CONNECTING, PRACTICE, UNREACHABLE, decide
from app.net.identity import peer_id_of
from app.node.chainfiles import bootstrap_json, load_chain


def test_reach_decisions() -> None:
    assert decide("devnet", 0, 0, 999).state == PRACTICE
    assert decide("testnet", 3, 0, 1, grace_s=20).state == CONNECTING
    assert decide("testnet", 3, 1, 999).state == CONNECTED and not decide("testnet", 3, 1, 999).island
    late = decide("testnet", 3, 0, 21, grace_s=20)
    assert late.state == UNREACHABLE and late.island and "practice network" in late.message
    empty = decide("testnet", 0, 0, 0)  # nothing to dial: no reason to wait
    assert empty.island and "--bootstrap-file" in empty.message


def dead_peer() -> str:
    """A well-formed bootstrap address of a peer that is not there: a port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id_of(create_new_key_pair())}"


def test_bootstrap_sources_and_a_damaged_bootstrap_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The shipped list is used only when nothing else names peers; a list for another chain is left out
    with a warning; a damaged list is a NodeSetupError, which `potminer daemon` prints as one line (it is
    a ConfigError)."""
    config = cfg.Config(network=cfg.NetworkConfig(chain=cfg.Chain.TESTNET))
    genesis = CHAINS_DIR / "testnet" / "genesis.json"
    assert bootstrap_peers(config, DaemonOptions(), genesis) == load_chain("testnet").bootstrap
    peer = dead_peer()
    boot = tmp_path / "bootstrap.json"
    boot.write_text(bootstrap_json("pot-testnet-1", [peer]))
    assert bootstrap_peers(config, DaemonOptions(bootstrap_file=boot), genesis) == (peer,)
    # a list for another chain (kept on the command line after a switch of networks) is left out, said in the log
    boot.write_text(bootstrap_json("pot-devnet-1", [peer]))
    with caplog.at_level(logging.WARNING):
        assert bootstrap_peers(config, DaemonOptions(bootstrap_file=boot), genesis) == load_chain("testnet").bootstrap
    assert "a bootstrap list for chain 'pot-devnet-1', not 'pot-testnet-1'" in caplog.text
    boot.write_text("{not json")
    with pytest.raises(NodeSetupError, match="bootstrap"):  # a damaged one stops the start, in one line
        bootstrap_peers(config, DaemonOptions(bootstrap_file=boot), genesis)
    assert issubclass(NodeSetupError, cfg.ConfigError)
