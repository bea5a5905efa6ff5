"""The reward key kept "hot", so mining resumes after a reboot with no password (the hotkey of
Bittensor's coldkey/hotkey split).

The reward key only signs work receipts and receives rewards; the spending key, which holds the
volunteer's savings, stays in the encrypted keystore and every send asks for the password. The hot
copy of the reward key lives in the OS keyring (service "potminer-hotkey", user = wallet id) when a
real one exists, else in `<datadir>/wallet/reward.hotkey`, readable only by the user (mode 0600; a
file others can read is refused, never used). What a thief of this copy gets is the rewards not yet
moved to the spending account: the window offers that move in one action.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from keyring.errors import KeyringError

from app.core.crypto import SigningKey
from app.fsutil import write_atomic
from app.wallet.keyring_store import KeyringStore

log = logging.getLogger(__name__)

SERVICE = "potminer-hotkey"
FILE_NAME = "reward.hotkey"


@dataclass(frozen=True)
class HotKeyInfo:
    """Where the hot reward key is kept, for the window's "which key holds what"."""

    stored: bool
    where: str  # "keyring", "file" or "" when none is stored
    detail: str  # the keyring backend or the file path


class HotKeyStore:
    """Keep, load and forget the reward key of one wallet, in the keyring or a user-only file."""

    def __init__(self, folder: Path, keyring: KeyringStore | None = None) -> None:
        self.file = Path(folder) / FILE_NAME
        self._keyring = keyring if keyring is not None else KeyringStore(service=SERVICE)

    def __repr__(self) -> str:
        return f"HotKeyStore({str(self.file)!r})"

    def save(self, wallet_id: str, key: SigningKey) -> HotKeyInfo:
        """Store `key` for `wallet_id`: the keyring when one is usable, else the 0600 file."""
        if self._keyring.status().available:
            try:
                self._keyring.remember(wallet_id, key.seed().hex())
                self.file.unlink(missing_ok=True)  # one copy only
                return self.info(wallet_id)
            except Exception as exc:  # KeyringUnavailable or a backend failure: fall back to the file
                log.warning("hot key: the OS keyring refused it (%s); keeping it in a user-only file", exc)
        self.file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.file, (key.seed().hex() + "\n").encode("ascii"), mode=0o600)
        return self.info(wallet_id)

    def load(self, wallet_id: str, reward_public: bytes) -> SigningKey | None:
        """The stored reward key if it is this wallet's (its public key matches), else None."""
        text = self._from_keyring(wallet_id) or self._from_file()
        if text is None:
            return None
        try:
            key = SigningKey.from_seed(bytes.fromhex(text.strip()))
        except ValueError:
            log.warning("hot key: the stored reward key is malformed; ignoring it (unlock with the password)")
            return None
        if key.public_key != reward_public:
            log.warning("hot key: the stored reward key is another wallet's; ignoring it")
            return None
        return key

    def forget(self, wallet_id: str) -> None:
        """Remove every stored copy (keyring entry and file)."""
        self._keyring.forget(wallet_id)
        self.file.unlink(missing_ok=True)

    def info(self, wallet_id: str) -> HotKeyInfo:
        if self._from_keyring(wallet_id) is not None:
            return HotKeyInfo(True, "keyring", self._keyring.status().backend)
        if self.file.exists():
            return HotKeyInfo(True, "file", str(self.file))
        return HotKeyInfo(False, "", "")

    def _from_keyring(self, wallet_id: str) -> str | None:
        try:
            return self._keyring.recall(wallet_id)
        except KeyringError:
            return None

    def _from_file(self) -> str | None:
        try:
            st = os.stat(self.file)
        except FileNotFoundError:
            return None
        if os.name == "posix" and (stat.S_IMODE(st.st_mode) & 0o077 or st.st_uid != os.getuid()):
            log.warning("hot key: %s can be read by others or is not yours; refusing it", self.file)
            return None
        return self.file.read_text(encoding="ascii")
