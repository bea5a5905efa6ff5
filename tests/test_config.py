"""Config: defaults, TOML round trip, warnings for unknown keys, errors naming key and file, --datadir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app import config as c


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    cfg, warnings = c.load(tmp_path / "none.toml")
    assert cfg == c.Config() and warnings == []
    assert cfg.mining.mode is c.MiningMode.WHEN_IDLE


def test_round_trip_is_atomic_and_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    cfg = c.with_changes(c.Config(), "mining", mode=c.MiningMode.ALWAYS, gpu_memory_fraction=0.5,
                         schedule="mon-fri 18:00-08:00")
    cfg = c.with_changes(cfg, "network", chain=c.Chain.TESTNET, bootstrap_peers=["/ip4/1.2.3.4/tcp/4001/p2p/Qm"])
    c.save(cfg, path)
    assert c.load(path) == (cfg, [])
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporaries left
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600


def test_unknown_keys_and_sections_are_warnings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[mining]\nidle_minutes = 9\nturbo = true\n[future]\nx = 1\n')
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
