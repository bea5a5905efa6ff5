"""The token file: private, ours, well-formed; anything else is refused with a message saying why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.rpc.auth import InsecureFileError, read_token_file, token_path, tokens_equal, write_token_file

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes and owners are POSIX")


def test_written_token_is_private_and_fresh(tmp_path: Path) -> None:
    first = write_token_file(tmp_path)
    assert token_path(tmp_path).stat().st_mode & 0o777 == 0o600
    assert read_token_file(token_path(tmp_path)) == first
    assert write_token_file(tmp_path) != first


def test_group_or_world_readable_token_is_refused(tmp_path: Path) -> None:
    write_token_file(tmp_path)
    path = token_path(tmp_path)
    for mode in (0o640, 0o604, 0o660):
        os.chmod(path, mode)
        with pytest.raises(InsecureFileError, match="chmod 600"):
            read_token_file(path)


def test_token_file_of_another_user_is_refused(tmp_path: Path) -> None:
    write_token_file(tmp_path)
    path = token_path(tmp_path)
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)  # really hand it to "nobody"
        expected = None
    else:
        expected = os.getuid() + 1  # as seen by another user
    with pytest.raises(InsecureFileError, match="belongs to user id"):
        read_token_file(path, expected_uid=expected)


def test_symlinked_missing_and_damaged_token_files(tmp_path: Path) -> None:
    write_token_file(tmp_path)
    link = tmp_path / "link.token"
    link.symlink_to(token_path(tmp_path))
    with pytest.raises(InsecureFileError, match="not a regular file"):
        read_token_file(link)
    with pytest.raises(FileNotFoundError, match="is the daemon running"):
        read_token_file(tmp_path / "none.token")
    token_path(tmp_path).write_text("short")
    with pytest.raises(ValueError, match="damaged"):
        read_token_file(token_path(tmp_path))


def test_token_comparison() -> None:
    assert tokens_equal("ab" * 32, "ab" * 32)
    assert not tokens_equal("ab" * 32, "ac" * 32)
    assert not tokens_equal("\udcff", "ab")  # unpaired surrogate from a hostile client does not crash
