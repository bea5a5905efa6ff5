"""Export and import: seed phrase, keystore file, raw private key; every export re-asks the password.

An export decrypts the keystore with the password it is given, even when the wallet is already
unlocked, so a person at an unlocked, unattended desktop cannot walk off with the seed. Imports build
a new keystore (never over an existing one) and return the wallet unlocked.
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.wallet.accounts import KIND_MNEMONIC, ROLE_REWARD, ROLE_SPENDING, WalletSecret
from app.wallet.errors import KeystoreExists, NoSeedPhrase
from app.wallet.keystore import DEFAULT_SCRYPT, KeystoreFile, ScryptParams, parse
from app.wallet.wallet import Wallet, decrypt_sealed

log = logging.getLogger(__name__)


def export_phrase(wallet: Wallet, password: str) -> tuple[str, str]:
    """(phrase, passphrase) to write down; raises `NoSeedPhrase` for a raw-key wallet."""
    secret = wallet.decrypt(password)
    if secret.kind != KIND_MNEMONIC:
        raise NoSeedPhrase("this wallet was imported from a raw private key; it has no seed phrase")
    log.info("wallet %s: seed phrase shown", wallet.wallet_id)
    return secret.phrase, secret.passphrase


def export_raw_key(wallet: Wallet, password: str, role: int = ROLE_SPENDING) -> str:
    """The 32-byte Ed25519 private key (hex) of the spending or reward key."""
    if role not in (ROLE_SPENDING, ROLE_REWARD):
        raise ValueError("role is ROLE_SPENDING or ROLE_REWARD")
    keys = wallet.decrypt(password).keys()
    log.info("wallet %s: raw private key exported", wallet.wallet_id)
    return (keys.spending if role == ROLE_SPENDING else keys.reward).seed().hex()


def export_keystore(wallet: Wallet, password: str, destination: Path | str) -> None:
    """Copy the encrypted keystore, byte for byte, to `destination` (mode 0600, never overwriting)."""
    wallet.decrypt(password)
    KeystoreFile(destination).write_content(wallet.keystore.read_bytes())
    log.info("wallet %s: keystore exported to %s", wallet.wallet_id, destination)


def import_keystore(source: Path | str, destination: Path | str, password: str, hrp: str) -> Wallet:
    """Install a keystore file exported elsewhere, after checking the password opens it."""
    if Path(destination).exists():
        raise KeystoreExists(f"a keystore already exists at {destination}; refusing to overwrite it")
    content = KeystoreFile(source).read_bytes()
    decrypt_sealed(parse(content), password)  # the very bytes that will be installed
    KeystoreFile(destination).write_content(content)
    wallet = Wallet(destination, hrp)
    wallet.unlock(password)
    log.info("wallet %s: keystore imported to %s", wallet.wallet_id, destination)
    return wallet


def import_raw_key(
    destination: Path | str, private_key_hex: str, password: str, hrp: str, kdf: ScryptParams = DEFAULT_SCRYPT
) -> Wallet:
    """A wallet holding one raw Ed25519 key (both roles), encrypted under `password`."""
    wallet = Wallet.from_secret(destination, WalletSecret.from_private_key_hex(private_key_hex), password, hrp, kdf)
    log.info("wallet %s: imported from a raw private key", wallet.wallet_id)
    return wallet
