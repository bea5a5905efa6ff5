"""Private paths stay private (issue 17 row 11): readable-by-others folders and files are fixed at start
and reported; logs are born 0600."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from app.daemon.permissions import NotPrivate, secure_private_paths
from app.log import LOG_NAME, setup_logging

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_readable_folders_keystore_and_logs_are_made_private(tmp_path: Path) -> None:
    data, logs = tmp_path / "data", tmp_path / "data" / "logs"
    keystore = data / "wallet" / "wallet.keystore"
    keystore.parent.mkdir(parents=True)
    logs.mkdir()
    keystore.write_bytes(b"{}")
    (logs / LOG_NAME).write_text("old line\n")
    (logs / f"{LOG_NAME}.1").write_text("older\n")
    for path, mode in [
        (data, 0o755),
        (logs, 0o755),
        (keystore.parent, 0o777),
        (keystore, 0o644),
        (logs / LOG_NAME, 0o644),
        (logs / f"{LOG_NAME}.1", 0o640),
    ]:
        os.chmod(path, mode)
    fixed = secure_private_paths(data, logs, keystore)
    assert len(fixed) == 6 and all("readable by others" in m for m in fixed)
    assert [_mode(p) for p in (data, logs, keystore.parent)] == [0o700] * 3
    assert [_mode(p) for p in (keystore, logs / LOG_NAME, logs / f"{LOG_NAME}.1")] == [0o600] * 3
    assert secure_private_paths(data, logs, keystore) == []  # nothing left to fix; missing paths are fine


@pytest.mark.skipif(os.getuid() != 0, reason="only root can hand a folder to another user")
def test_a_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 4242, 4242)
    with pytest.raises(NotPrivate, match="user id 4242"):
        secure_private_paths(data, data / "logs", data / "wallet" / "wallet.keystore")


def test_log_files_are_written_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        setup = setup_logging(tmp_path / "logs", logger_name="test.private")
        logging.getLogger("test.private").warning("hello")
        setup.close()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "logs" / LOG_NAME) == 0o600
    assert _mode(tmp_path / "logs") == 0o700
