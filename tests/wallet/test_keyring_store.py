"""The keyring cache: remembers only when asked, says clearly when no keyring exists."""

from __future__ import annotations

import keyring
import keyring.backends.fail
import keyring.backends.null
import pytest
from keyring.backends.chainer import ChainerBackend
from keyring.errors import PasswordSetError

from app.wallet.errors import KeyringUnavailable
from app.wallet.keyring_store import KeyringStore
from tests.wallet.conftest import MemoryKeyring


def test_remember_recall_forget(memory_keyring: MemoryKeyring) -> None:
    store = KeyringStore(memory_keyring)
    assert store.status().available
    assert store.recall("w1") is None
    store.remember("w1", "hunter22 hunter22")
    assert store.recall("w1") == "hunter22 hunter22"
    assert memory_keyring.entries == {("potminer", "w1"): "hunter22 hunter22"}
    store.forget("w1")
    store.forget("w1")  # forgetting twice is fine
    assert store.recall("w1") is None


@pytest.mark.parametrize(
    "backend", [keyring.backends.null.Keyring(), keyring.backends.fail.Keyring(), ChainerBackend()]
)
def test_headless_backends_are_reported_and_refused(backend, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if isinstance(backend, ChainerBackend):
        monkeypatch.setattr(ChainerBackend, "backends", [])
    store = KeyringStore(backend)
    status = store.status()
    assert not status.available and "no OS keyring" in status.reason
    with pytest.raises(KeyringUnavailable, match="enter the password instead"):
        store.remember("w1", "secret password")
    assert store.recall("w1") is None
    store.forget("w1")


def test_plaintext_backend_is_refused() -> None:
    class PlaintextKeyring(MemoryKeyring):
        pass

    store = KeyringStore(PlaintextKeyring())
    assert "plain text" in store.status().reason
    with pytest.raises(KeyringUnavailable, match="plain text"):
        store.remember("w1", "secret password")


def test_refusing_backend_is_a_clear_error() -> None:
    class Refusing(MemoryKeyring):
        def set_password(self, service: str, username: str, password: str) -> None:
            raise PasswordSetError("locked collection")

    with pytest.raises(KeyringUnavailable, match="refused") as info:
        KeyringStore(Refusing()).remember("w1", "secret password")
    assert "secret password" not in str(info.value)


def test_default_backend_in_tests_is_the_null_keyring() -> None:
    # tests/conftest.py selects it, so nothing here can touch the machine's keyring.
    assert not KeyringStore().status().available
    assert isinstance(keyring.get_keyring(), keyring.backends.null.Keyring)
