"""Wallet errors: each names what the user did wrong or what is wrong on disk, never a secret.

Messages are shown to the user as they are, so they say what to do; none of them ever quotes a
password, a seed word, a key or a passphrase, not even a misspelled word.
"""

from __future__ import annotations

from app.core.errors import PotError


class WalletError(PotError):
    """Base of every error the wallet raises on purpose."""


class InvalidMnemonic(WalletError):
    """A seed phrase with a wrong word count, an unknown word, or a bad checksum."""


class InvalidDerivationPath(WalletError):
    """A derivation path that is not `m/` followed by hardened indices."""


class KeystoreError(WalletError):
    """A keystore file that cannot be used; the file is left as it was."""


class KeystoreMissing(KeystoreError):
    """No keystore file at the given path."""


class KeystoreExists(KeystoreError):
    """Refusing to overwrite an existing keystore with a new wallet."""


class KeystoreCorrupted(KeystoreError):
    """The file is truncated, not JSON, fails its checksum, or has malformed fields."""


class UnsupportedKeystoreVersion(KeystoreError):
    """A keystore written by a newer (or unknown) version of the app."""


class WrongPassword(KeystoreError):
    """The password does not decrypt the keystore."""


class WeakPassword(WalletError):
    """A new password that is empty or too short to protect the keystore."""


class WalletLocked(WalletError):
    """An operation that needs the keys while the wallet is locked (watch-only)."""


class KeyringUnavailable(WalletError):
    """No usable OS keyring backend; the app must ask for the password instead."""


class InvalidAmount(WalletError):
    """An amount text that is not a non-negative number of POT with at most 9 decimals."""


class InvalidPrivateKey(WalletError):
    """A raw private key that is not 32 bytes of hex."""


class NoSeedPhrase(WalletError):
    """The wallet was imported from a raw key and has no seed phrase to show."""


class PasswordRequired(WalletLocked):
    """Spending asks for the password every time, even while the wallet is unlocked."""
