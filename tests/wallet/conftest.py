"""Wallet test helpers: cheap scrypt costs, and an in-memory keyring selected explicitly."""

from __future__ import annotations

import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from app.wallet.keystore import ScryptParams

CHEAP = ScryptParams(log2_n=10, r=8, p=1)
HRP = "potd"


class MemoryKeyring(KeyringBackend):
    """A keyring that keeps entries in a dict: the test backend, never registered or auto-selected."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("no such entry")


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    return MemoryKeyring()
