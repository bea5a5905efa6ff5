"""Opening the wallet file at daemon start without ever being locked out by it.

A damaged keystore (truncated, a flipped byte, `{}`, empty, written by a newer app) must not stop the
daemon: then the window could not open to restore the wallet from its seed phrase. So the daemon opens
the file here, and on failure runs without a wallet, says so in its log and in `status`, and keeps the
file untouched until the user restores or imports a wallet, when the file is renamed aside (never
overwritten, never deleted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.wallet.errors import UnsupportedKeystoreVersion, WalletError
from app.wallet.keystore import set_aside
from app.wallet.wallet import Wallet

log = logging.getLogger(__name__)

FIX = (
    "restore the wallet from its seed phrase (or import a backup); the damaged file is then kept aside "
    "next to it, renamed with the time, never deleted"
)


@dataclass(frozen=True)
class DamagedKeystore:
    """A keystore file the daemon could not open, and why (words for the user)."""

    path: Path
    reason: str
    newer_app: bool = False  # written by a newer version: updating the app also fixes it

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "reason": self.reason, "newer_app": self.newer_app, "fix": FIX}


def open_wallet(path: Path, hrp: str) -> tuple[Wallet | None, DamagedKeystore | None]:
    """The wallet at `path` (locked), or None and what is wrong with the file. Never raises for the file's
    content: any failure to read it is reported, so the daemon starts anyway."""
    if not path.exists():
        return None, None
    try:
        return Wallet(path, hrp), None
    except (WalletError, OSError, ValueError, KeyError, TypeError) as exc:
        reason = str(exc) or type(exc).__name__
        damaged = DamagedKeystore(path, reason, isinstance(exc, UnsupportedKeystoreVersion))
    log.error("WALLET FILE UNUSABLE: %s: %s. The daemon runs without a wallet; %s.", path, reason, FIX)
    return None, damaged


def keep_aside(damaged: DamagedKeystore) -> Path | None:
    """Move the damaged file out of the way before a new wallet takes its name; None if it is gone."""
    if not damaged.path.exists():
        return None
    target = set_aside(damaged.path)
    log.warning("the damaged wallet file was kept as %s", target)
    return target
