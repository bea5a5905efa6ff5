"""Atomic replacement: content, permissions, and no temporaries left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app import fsutil as atomic


def test_write_creates_and_replaces_with_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic.write_atomic(target, b"one")
    atomic.write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    if os.name == "posix":
        assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_stale_temporaries_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    stale = tmp_path / ".f.json.abcdef.tmp"
    stale.write_bytes(b"half")
    other = tmp_path / ".g.json.abcdef.tmp"
    other.write_bytes(b"not ours")
    atomic.write_atomic(target, b"x")
    assert not stale.exists() and other.exists()


def test_failed_write_leaves_target_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    atomic.write_atomic(target, b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
