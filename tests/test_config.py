"""Config: defaults, TOML round trip, warnings for unknown keys, errors naming key and file, --datadir."""

from __future__ import annotations

import os
from pathlib import Path
from typing import get_type_hints

import pytest
from hypothesis import given, settings, strategies as st

from app import config as c


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    cfg, warnings = c.load(tmp_path / "none.toml")
    assert cfg == c.Config() and warnings == []
    assert cfg.mining.mode is c.MiningMode.WHEN_IDLE


def test_round_trip_is_atomic_and_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    cfg = c.with_changes(
        c.Config(), "mining", mode=c.MiningMode.ALWAYS, gpu_memory_fraction=0.5, schedule="mon-fri 18:00-08:00"
    )
    cfg = c.with_changes(cfg, "network", chain=c.Chain.TESTNET, bootstrap_peers=["/ip4/1.2.3.4/tcp/4001/p2p/Qm"])
    c.save(cfg, path)
    assert c.load(path) == (cfg, [])
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporaries left
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600


def test_unknown_keys_and_sections_are_warnings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[mining]\nidle_minutes = 9\nturbo = true\n[future]\nx = 1\n")
    cfg, warnings = c.load(path)
    assert cfg.mining.idle_minutes == 9
    assert any("unknown key 'turbo'" in w and str(path) in w for w in warnings)
    assert any("unknown section [future]" in w for w in warnings)


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ('[mining]\nidle_minutes = "five"', "[mining] idle_minutes must be an integer, got 'five'"),
        ("[mining]\nidle_minutes = true", "idle_minutes must be an integer"),
        ('[mining]\nmode = "sometimes"', "mode must be one of always, when-idle, never"),
        ('[mining]\npause_on_battery = "yes"', "pause_on_battery must be true or false"),
        ("[mining]\ngpu_memory_fraction = 1.5", "gpu_memory_fraction must be between"),
        ('[mining]\nschedule = "mon 25:00-26:00"', "schedule:"),
        ('[network]\nbootstrap_peers = "peer"', "bootstrap_peers must be a list of strings"),
        ('[network]\nchain = "mainnet"', "chain must be one of devnet, testnet"),
        ("[rpc]\ntcp_port = 70000", "tcp_port must be between"),
        ('mining = "fast"', "[mining] must be a table"),
        ("[mining\n", "not valid TOML"),
    ],
)
def test_wrong_values_are_errors_naming_key_and_file(tmp_path: Path, toml: str, fragment: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(c.ConfigError) as err:
        c.load(path)
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_save_refuses_invalid_config(tmp_path: Path) -> None:
    bad = c.with_changes(c.Config(), "mining", utilization_cap=0)
    with pytest.raises(c.ConfigError, match="utilization_cap"):
        c.save(bad, tmp_path / "config.toml")
    assert not (tmp_path / "config.toml").exists()


def test_datadir_puts_everything_under_one_folder(tmp_path: Path) -> None:
    cfg = c.with_changes(c.Config(), "paths", data_dir="/elsewhere", log_dir="/elsewhere/logs")
    paths = c.resolve_paths(cfg, tmp_path)
    assert paths == c.Paths(tmp_path.resolve() / "config.toml", tmp_path.resolve(), tmp_path.resolve() / "logs")
    assert c.config_file(tmp_path) == tmp_path / "config.toml"


def test_platform_folders_and_overrides(tmp_path: Path) -> None:
    default = c.resolve_paths(c.Config())
    assert "potminer" in str(default.data_dir) and "potminer" in str(default.log_dir)
    assert default.config_file.name == "config.toml"
    moved = c.resolve_paths(c.with_changes(c.Config(), "paths", data_dir=str(tmp_path / "d")))
    assert moved.data_dir == tmp_path / "d" and moved.log_dir == default.log_dir


# -- values from config.set (issue 17 row 9) ------------------------------------------------------
@pytest.mark.parametrize(
    ("section", "values", "fragment"),
    [
        ("mining", {"mode": None}, "mode"),
        ("mining", {"idle_minutes": None}, "idle_minutes"),
        ("mining", {"pause_on_battery": "yes"}, "pause_on_battery"),
        ("mining", {"gpu_memory_fraction": 10**400}, "gpu_memory_fraction"),
        ("mining", {"schedule": ["mon"]}, "schedule"),
        ("network", {"listen": "/ip4/127.0.0.1/tcp/0"}, "listen"),
        ("network", {"listen": [None]}, "listen"),
        ("rpc", {"tcp_port": {"a": 1}}, "tcp_port"),
        ("rpc", {"tcp_port": 70000}, "tcp_port"),
        ("ui", {"theme": 3}, "theme"),
        ("ui", {"nope": 1}, "nope"),
        ("nowhere", {"a": 1}, "nowhere"),
        ("mining", None, "object"),
        ("mining", [1, 2], "object"),
    ],
)
def test_wrong_values_from_a_client_are_config_errors(section: str, values: object, fragment: str) -> None:
    with pytest.raises(c.ConfigError, match=fragment):
        c.updated(c.Config(), section, values)


def test_updated_applies_checked_values() -> None:
    new = c.updated(c.Config(), "mining", {"mode": "always", "gpu_memory_fraction": 1, "idle_minutes": 9})
    assert (new.mining.mode, new.mining.gpu_memory_fraction, new.mining.idle_minutes) == (c.MiningMode.ALWAYS, 1.0, 9)
    assert c.Config().mining.mode is c.MiningMode.WHEN_IDLE  # the original is unchanged


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_KEYS = [(s, k) for s, cls in get_type_hints(c.Config).items() for k in get_type_hints(cls)]


@settings(max_examples=150)
@given(st.sampled_from(_KEYS), json_values)
def test_any_json_value_for_any_key_is_accepted_or_a_config_error(key: tuple[str, str], value: object) -> None:
    section, name = key
    try:
        new = c.updated(c.Config(), section, {name: value})
    except c.ConfigError:
        return
    assert c.to_toml(new)  # an accepted value can be written back to the file


def test_a_toml_integer_too_long_for_python_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[mining]\nidle_minutes = " + "9" * 5000 + "\n")
    with pytest.raises(c.ConfigError, match="config.toml"):
        c.load(path)


def test_auto_node_mode_is_light_for_volunteers_on_the_test_network_and_full_on_practice() -> None:
    """Issue 13: a volunteer's daemon on the shared network is a light client unless they choose otherwise;
    the practice network's validators run beside the daemon, which follows them as a full node."""
    from app.config import Chain, NetworkConfig, NodeMode, effective_node_mode

    assert NetworkConfig().node_mode == NodeMode.AUTO
    assert effective_node_mode(NetworkConfig(chain=Chain.TESTNET)) == NodeMode.LIGHT
    assert effective_node_mode(NetworkConfig(chain=Chain.DEVNET)) == NodeMode.FULL
    for chosen in (NodeMode.FULL, NodeMode.LIGHT):
        for chain in Chain:
            assert effective_node_mode(NetworkConfig(chain=chain, node_mode=chosen)) == chosen
