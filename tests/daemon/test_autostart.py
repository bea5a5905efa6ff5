"""Start-at-login entries: the Linux .desktop and macOS plist content, and install/remove round trips."""

from __future__ import annotations

import configparser
import plistlib
from pathlib import Path

import pytest

from app.daemon import autostart

CMD = ["/opt/pot miner/bin/python", "-m", "app", "daemon", "--datadir", "/home/a b/100%"]


def test_desktop_entry_parses_and_quotes_spaces_and_percent() -> None:
    text = autostart.desktop_entry(CMD)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"] == '"/opt/pot miner/bin/python" -m app daemon --datadir "/home/a b/100%%"'


def test_launch_agent_runs_the_command_at_login(tmp_path: Path) -> None:
    plist = plistlib.loads(autostart.launch_agent(CMD, tmp_path))
    assert plist["Label"] == autostart.LABEL
    assert plist["ProgramArguments"] == CMD
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] is False
    assert plist["StandardErrorPath"].startswith(str(tmp_path))


def test_windows_run_value_quotes_paths_with_spaces() -> None:
    assert (
        autostart.windows_run_value(["C:\\Program Files\\PoT\\potminer.exe", "daemon"])
        == '"C:\\Program Files\\PoT\\potminer.exe" daemon'
    )


@pytest.mark.parametrize(
    "platform, suffix",
    [("linux", ".config/autostart/potminer.desktop"), ("darwin", "Library/LaunchAgents/org.potminer.daemon.plist")],
)
def test_enable_disable_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str, suffix: str) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert not autostart.is_enabled(platform, tmp_path)
    where = autostart.enable(CMD, tmp_path / "logs", platform, tmp_path)
    assert where == str(tmp_path / suffix)
    assert autostart.is_enabled(platform, tmp_path)
    assert (tmp_path / suffix).stat().st_mode & 0o777 == 0o644
    assert autostart.disable(platform, tmp_path) is True
    assert autostart.disable(platform, tmp_path) is False
    assert not autostart.is_enabled(platform, tmp_path)


def test_xdg_config_home_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert autostart.entry_path("linux", tmp_path) == tmp_path / "cfg" / "autostart" / "potminer.desktop"
