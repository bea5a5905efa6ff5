"""Optional OS-keyring cache of the wallet password, only when the user asks (Electrum #2606).

The entry is the wallet password under service "potminer", user = the wallet id (a non-secret hash of
the spending key). The app stores it only on an explicit "remember" and deletes it on "forget" or when
the password changes. Where no real keyring exists (headless Linux: the fail or null backend, or an
empty chain) or the only backend writes plain text, `status()` says so and the caller asks for the
password instead; a secret is never written anywhere in plain text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError

from app.wallet.errors import KeyringUnavailable

SERVICE = "potminer"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyringStatus:
    available: bool
    backend: str
    reason: str


def _status_of(backend: KeyringBackend) -> KeyringStatus:
    name = f"{type(backend).__module__}.{type(backend).__qualname__}"
    if name.startswith(("keyring.backends.fail.", "keyring.backends.null.")):
        return KeyringStatus(False, name, "no OS keyring is available on this system; enter the password instead")
    if "plaintext" in name.lower():
        return KeyringStatus(False, name, f"the keyring backend {name} stores secrets in plain text; refusing it")
    if getattr(backend, "backends", None) == []:
        return KeyringStatus(False, name, "no OS keyring is available on this system; enter the password instead")
    return KeyringStatus(True, name, "")


class KeyringStore:
    """Remember, recall and forget wallet passwords in one explicitly chosen keyring backend."""

    def __init__(self, backend: KeyringBackend | None = None, service: str = SERVICE) -> None:
        self._backend = backend if backend is not None else keyring.get_keyring()
        self._service = service

    def __repr__(self) -> str:
        return f"KeyringStore({self.status().backend})"

    def status(self) -> KeyringStatus:
        return _status_of(self._backend)

    def _require(self) -> None:
        status = self.status()
        if not status.available:
            raise KeyringUnavailable(status.reason)

    def remember(self, wallet_id: str, password: str) -> None:
        """Store `password` for `wallet_id`; `KeyringUnavailable` says why when it cannot."""
        self._require()
        try:
            self._backend.set_password(self._service, wallet_id, password)
        except KeyringError as exc:
            raise KeyringUnavailable(f"the OS keyring refused to store the password ({type(exc).__name__})") from None
        log.info("wallet %s: password remembered in the OS keyring", wallet_id)

    def recall(self, wallet_id: str) -> str | None:
        """The remembered password, or None when none is stored or no keyring is usable."""
        if not self.status().available:
            return None
        try:
            return self._backend.get_password(self._service, wallet_id)
        except KeyringError as exc:
            log.warning("OS keyring could not be read (%s); asking for the password", type(exc).__name__)
            return None

    def forget(self, wallet_id: str) -> None:
        """Delete the entry if there is one; a missing entry or keyring is not an error."""
        if not self.status().available:
            return
        try:
            self._backend.delete_password(self._service, wallet_id)
            log.info("wallet %s: password removed from the OS keyring", wallet_id)
        except KeyringError:
            pass
