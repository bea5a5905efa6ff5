"""The wallet facade: create, restore, open (watch-only), unlock, lock, change password.

A `Wallet` is one keystore file plus the network prefix its addresses are shown with. It starts
locked: the addresses come from the keystore's public part, nothing can be signed. `unlock` decrypts
the secret, re-derives the keys and checks them against the public part. Exports and imports, each
behind the password, are in export.py; building transfers is in tx.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.wallet import mnemonic
from app.wallet.accounts import KIND_MNEMONIC, Keys, WalletSecret, WatchOnly
from app.wallet.errors import KeystoreCorrupted, KeystoreExists, WalletLocked, WrongPassword
from app.wallet.keyring_store import KeyringStore
from app.wallet.keystore import DEFAULT_SCRYPT, KeystoreFile, ScryptParams, Sealed, check_new_password

log = logging.getLogger(__name__)


def decrypt_sealed(sealed: Sealed, password: str) -> WalletSecret:
    """Decrypt a parsed keystore and check that its secret derives the keys its public part shows."""
    secret = WalletSecret.from_bytes(sealed.open(password))
    if secret.keys().watch_only(secret.kind) != WatchOnly.from_public(sealed.public):
        raise KeystoreCorrupted("keystore's public keys do not match its encrypted secret")
    return secret


class Wallet:
    """One wallet file. Holds decrypted keys only between `unlock` and `lock`."""

    def __init__(self, path: Path | str, hrp: str) -> None:
        """Open an existing keystore, locked. Raises a `KeystoreError` if it is unusable."""
        self.keystore = KeystoreFile(path)
        self.hrp = hrp
        self.watch_only = WatchOnly.from_public(self.keystore.public())
        self._keys: Keys | None = None
        self.spending_address  # refuse a malformed prefix now, not at first display

    def __repr__(self) -> str:
        state = "locked" if self.is_locked else "unlocked"
        return f"Wallet({str(self.keystore.path)!r}, {self.spending_address}, {state})"

    # ----------------------------------------------------------------------- creation

    @classmethod
    def create(
        cls,
        path: Path | str,
        password: str,
        hrp: str,
        words: int = mnemonic.DEFAULT_WORDS,
        passphrase: str = "",
        kdf: ScryptParams = DEFAULT_SCRYPT,
    ) -> tuple["Wallet", str]:
        """A new wallet from a fresh phrase; returns the wallet (unlocked) and the phrase to show once."""
        phrase = mnemonic.generate(words)
        wallet = cls.from_secret(path, WalletSecret.from_phrase(phrase, passphrase), password, hrp, kdf)
        log.info("wallet created at %s", wallet.keystore.path)
        return wallet, phrase

    @classmethod
    def restore(
        cls,
        path: Path | str,
        phrase: str,
        password: str,
        hrp: str,
        passphrase: str = "",
        kdf: ScryptParams = DEFAULT_SCRYPT,
    ) -> "Wallet":
        """A wallet restored from a written-down phrase (and its passphrase, if one was used)."""
        wallet = cls.from_secret(path, WalletSecret.from_phrase(phrase, passphrase), password, hrp, kdf)
        log.info("wallet restored from seed phrase at %s", wallet.keystore.path)
        return wallet

    @classmethod
    def from_secret(
        cls, path: Path | str, secret: WalletSecret, password: str, hrp: str, kdf: ScryptParams = DEFAULT_SCRYPT
    ) -> "Wallet":
        """Encrypt `secret` into a new keystore at `path` (never over an existing one); unlocked."""
        check_new_password(password)
        store = KeystoreFile(path)
        if store.exists():
            raise KeystoreExists(f"a keystore already exists at {store.path}; refusing to overwrite it")
        keys = secret.keys()
        store.create(secret.to_bytes(), keys.watch_only(secret.kind).to_public(), password, kdf)
        wallet = cls(path, hrp)
        wallet._keys = keys
        return wallet

    # ----------------------------------------------------------------------- lock state

    @property
    def is_locked(self) -> bool:
        return self._keys is None

    def decrypt(self, password: str) -> WalletSecret:
        """The decrypted secret, checked against the public part; for unlock and the exports."""
        secret = decrypt_sealed(self.keystore.load(), password)
        if secret.keys().watch_only(secret.kind) != self.watch_only:  # the file changed since opening
            raise KeystoreCorrupted("keystore's public keys changed since the wallet was opened")
        return secret

    def unlock(self, password: str) -> None:
        self._keys = self.decrypt(password).keys()
        log.info("wallet %s unlocked", self.wallet_id)

    def unlock_with_keyring(self, store: KeyringStore) -> bool:
        """Unlock with a password the OS keyring remembers; False (still locked) when it has none
        or a stale one, so the caller asks for the password."""
        password = store.recall(self.wallet_id)
        if password is None:
            return False
        try:
            self.unlock(password)
        except WrongPassword:  # a stale entry (password changed elsewhere) means: ask the user
            log.warning("wallet %s: the password in the OS keyring no longer unlocks it", self.wallet_id)
            return False
        return True

    def lock(self) -> None:
        self._keys = None
        log.info("wallet %s locked", self.wallet_id)

    def change_password(
        self, old: str, new: str, kdf: ScryptParams | None = None, keyring: KeyringStore | None = None
    ) -> None:
        """Re-encrypt under `new`; a keyring entry for this wallet is updated, never left stale."""
        self.decrypt(old)
        self.keystore.change_password(old, new, kdf)
        if keyring is not None and keyring.recall(self.wallet_id) is not None:
            keyring.remember(self.wallet_id, new)
        log.info("wallet %s: password changed", self.wallet_id)

    # ----------------------------------------------------------------------- keys and addresses

    @property
    def keys(self) -> Keys:
        if self._keys is None:
            raise WalletLocked("the wallet is locked; unlock it with the password first")
        return self._keys

    @property
    def wallet_id(self) -> str:
        return self.watch_only.wallet_id

    @property
    def has_seed_phrase(self) -> bool:
        return self.watch_only.kind == KIND_MNEMONIC

    @property
    def spending_address(self) -> str:
        return self.watch_only.spending_address(self.hrp)

    @property
    def reward_address(self) -> str:
        return self.watch_only.reward_address(self.hrp)

    def addresses(self) -> dict[str, str]:
        """Role -> address; available while locked."""
        return {"spending": self.spending_address, "reward": self.reward_address}
