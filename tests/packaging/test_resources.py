"""app/resources.py: resources/ from a source checkout and from a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app import resources

ROOT = Path(__file__).resolve().parents[2]


def test_from_source() -> None:
    assert not resources.is_frozen()
    assert resources.resources_root() == ROOT / "resources"
    assert resources.resource_path("chains", "testnet", "genesis.json").is_file()
    assert resources.resource_path("icons", "potminer.svg").is_file()
    assert resources.cli_command() == [sys.executable, "-m", "app"]


def test_frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "_internal"), raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "potminer-gui"))
    assert resources.is_frozen()
    assert resources.resource_path("icons", "a.png") == tmp_path / "_internal" / "resources" / "icons" / "a.png"
    exe = "potminer.exe" if sys.platform == "win32" else "potminer"
    assert resources.cli_command() == [str((tmp_path / exe).resolve())]
