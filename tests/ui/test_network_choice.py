"""Which saves of the network section restart the background service (Settings' save, the banner's switch)."""

from __future__ import annotations

from app.ui.widgets.network_choice import network_change, network_settings_changed

SAVED = {"chain": "testnet", "node_mode": "auto", "genesis_file": "", "bootstrap_peers": ["/ip4/1.2.3.4/tcp/1/p2p/x"]}


def test_the_same_network_values_need_no_restart() -> None:
    form = {"node_mode": "auto", "bootstrap_peers": ["/ip4/1.2.3.4/tcp/1/p2p/x"]} | network_change("testnet", SAVED)
    assert not network_settings_changed(SAVED, form)


def test_another_chain_node_mode_or_peer_list_needs_a_restart() -> None:
    other_chain = {"node_mode": "auto", "bootstrap_peers": []} | network_change("devnet", SAVED)
    assert other_chain == {"node_mode": "auto", "bootstrap_peers": [], "chain": "devnet", "genesis_file": ""}
    assert network_settings_changed(SAVED, other_chain)
    assert network_settings_changed(SAVED, SAVED | {"node_mode": "full"})
    assert network_settings_changed(SAVED, SAVED | {"bootstrap_peers": []})
