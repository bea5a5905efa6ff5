"""The persistent peer identity: stable across restarts, private, and refused when damaged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.net.errors import IdentityError
from app.net.identity import load_identity, load_or_create_identity, peer_id_of


def test_identity_is_created_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "p2p.key"
    first = peer_id_of(load_or_create_identity(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert peer_id_of(load_or_create_identity(path)) == first
    assert [p.name for p in path.parent.iterdir()] == ["p2p.key"]  # no temporary file left


def test_two_identities_differ(tmp_path: Path) -> None:
    assert peer_id_of(load_or_create_identity(tmp_path / "a")) != peer_id_of(load_or_create_identity(tmp_path / "b"))


@pytest.mark.parametrize("damage", [lambda b: b[:-1], lambda b: b + b"x", lambda b: b"junk" + b[4:], lambda b: b""])
def test_damaged_identity_is_refused(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p2p.key"
    load_or_create_identity(path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(IdentityError):
        load_identity(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_identity_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p2p.key"
    load_or_create_identity(path)
    path.chmod(0o644)
    with pytest.raises(IdentityError, match="other users"):
        load_identity(path)


def test_missing_identity_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="cannot read"):
        load_identity(tmp_path / "absent")
