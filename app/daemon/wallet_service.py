"""The daemon's one wallet: where its keystore lives, its lock state, and what unlocking starts.

The wallet file is `<datadir>/wallet/wallet.keystore`. Unlocking hands the reward key to the miner
(receipts are signed with it and rewards paid to it); locking takes it back, so an unattended daemon
holds keys only while the user wants it to mine. Balances and history come from the node's chain.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.address import decode_address, encode_address
from app.core.errors import InvalidAddress
from app.core.crypto import SigningKey
from app.core.types import Transfer
from app.wallet import export as wexport
from app.wallet.accounts import ROLE_REWARD, ROLE_SPENDING
from app.wallet.errors import KeystoreExists, KeystoreMissing
from app.wallet.history import build_history
from app.wallet.tx import build_transfer, format_amount
from app.wallet.wallet import Wallet

log = logging.getLogger(__name__)

KEYSTORE = Path("wallet") / "wallet.keystore"
ROLES = {"spending": ROLE_SPENDING, "reward": ROLE_REWARD}

OnKeys = Callable[[SigningKey | None], None]  # the reward key when unlocked, None when locked


class NoWallet(KeystoreMissing):
    """No wallet exists in this data folder yet."""


class WalletService:
    """Create/restore/import the wallet, unlock/lock it, and answer balance and history questions."""

    def __init__(self, data_dir: Path, hrp: str, on_keys: OnKeys, redact: Callable[[str], None]) -> None:
        self.path = Path(data_dir) / KEYSTORE
        self.hrp = hrp
        self._on_keys = on_keys
        self._redact = redact
        self._lock = threading.RLock()
        self._wallet: Wallet | None = Wallet(self.path, hrp) if self.path.exists() else None

    # -- state ----------------------------------------------------------------------------------
    @property
    def wallet(self) -> Wallet:
        if self._wallet is None:
            raise NoWallet("no wallet yet: create one with 'potminer wallet create' (or restore/import one)")
        return self._wallet

    @property
    def exists(self) -> bool:
        return self._wallet is not None

    @property
    def locked(self) -> bool:
        return self._wallet is None or self._wallet.is_locked

    def own_accounts(self) -> set[bytes]:
        return self._wallet.watch_only.accounts() if self._wallet is not None else set()

    def info(self) -> dict[str, Any]:
        if self._wallet is None:
            return {"exists": False, "locked": True, "addresses": {}}
        return {"exists": True, "locked": self._wallet.is_locked, "addresses": self._wallet.addresses(),
                "wallet_id": self._wallet.wallet_id, "has_seed_phrase": self._wallet.has_seed_phrase}

    # -- creation -------------------------------------------------------------------------------
    def create(self, password: str, words: int) -> tuple[Wallet, str]:
        with self._lock:
            self._refuse_existing()
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._redact(password)
            wallet, phrase = Wallet.create(self.path, password, self.hrp, words=words)
            self._installed(wallet)
            return wallet, phrase

    def restore(self, phrase: str, password: str, passphrase: str) -> Wallet:
        with self._lock:
            self._refuse_existing()
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._redact(password)
            wallet = Wallet.restore(self.path, phrase, password, self.hrp, passphrase=passphrase)
            self._installed(wallet)
            return wallet

    def import_keystore(self, source: Path, password: str) -> Wallet:
        with self._lock:
            self._refuse_existing()
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            wallet = wexport.import_keystore(source, self.path, password, self.hrp)
            self._installed(wallet)
            return wallet

    def import_raw_key(self, private_key_hex: str, password: str) -> Wallet:
        with self._lock:
            self._refuse_existing()
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._redact(password)
            wallet = wexport.import_raw_key(self.path, private_key_hex, password, self.hrp)
            self._installed(wallet)
            return wallet

    def _refuse_existing(self) -> None:
        if self._wallet is not None or self.path.exists():
            raise KeystoreExists(
                f"this data folder already has a wallet ({self.path}); export it and use another data folder "
                "(--datadir) to keep two")

    def _installed(self, wallet: Wallet) -> None:
        self._wallet = wallet
        self._on_keys(wallet.keys.reward)

    # -- lock -----------------------------------------------------------------------------------
    def unlock(self, password: str) -> None:
        with self._lock:
            self._redact(password)
            self.wallet.unlock(password)
            self._on_keys(self.wallet.keys.reward)

    def lock(self) -> None:
        with self._lock:
            self.wallet.lock()
            self._on_keys(None)

    # -- money ----------------------------------------------------------------------------------
    def address_of(self, role: str) -> tuple[str, bytes]:
        address = self.wallet.addresses()[role]
        return address, decode_address(address, self.hrp)

    def signing_key(self, role: str, password: str = "") -> SigningKey:
        """The key of `role`: from the unlocked wallet, or, with `password`, decrypted for this one use.

        A password, when given, is always checked (even if the wallet is unlocked): the window asks for
        it before each send, and a wrong one must refuse the send. It does not unlock the wallet."""
        if password:
            self._redact(password)
            keys = self.wallet.decrypt(password).keys()  # raises WrongPassword
        else:
            keys = self.wallet.keys  # raises WalletLocked
        return keys.spending if role == "spending" else keys.reward

    def check_address(self, address: str) -> dict[str, Any]:
        """Whether `address` is a valid address of this network, and why not (for a form, as it is typed)."""
        try:
            decode_address(address, self.hrp)
        except InvalidAddress as exc:
            return {"address": address, "valid": False, "reason": str(exc)}
        return {"address": address.strip(), "valid": True, "reason": ""}

    def build_send(self, key: SigningKey, to: str, amount: int, fee: int, memo: str, nonce: int, balance: int,
                   chain_id: str) -> Transfer:
        return build_transfer(key, chain_id, self.hrp, to, amount, fee, nonce, memo, balance)

    def history(self, txs_of: Callable[[bytes], list[Any]], rewards_of: Callable[[bytes], list[Any]],
                time_of: Callable[[int], int | None] = lambda _h: None) -> list[dict[str, Any]]:
        """Transfers and rewards of our accounts, oldest first; `time` is the block's (unix s) by `time_of`."""
        own = self.own_accounts()
        transfers: dict[bytes, tuple[int, Transfer]] = {}
        rewards: list[tuple[int, Any]] = []
        for account in sorted(own):
            for entry in txs_of(account):
                if isinstance(entry.tx, Transfer):
                    transfers[entry.tx.tx_id] = (entry.height, entry.tx)
            rewards.extend((e.height, e.reward) for e in rewards_of(account))
        ordered = sorted(transfers.values(), key=lambda item: item[0])
        return [{
            "height": e.height, "time": time_of(e.height), "kind": e.kind, "delta": e.delta, "amount": format_amount(abs(e.delta)),
            "fee": e.fee, "counterparty": encode_address(e.counterparty, self.hrp) if e.counterparty else None,
            "reference": e.reference.hex(), "memo": e.memo,
        } for e in build_history(own, ordered, sorted(rewards, key=lambda item: item[0]))]

    # -- exports (each re-asks the password) ------------------------------------------------------
    def export_phrase(self, password: str) -> dict[str, str]:
        phrase, passphrase = wexport.export_phrase(self.wallet, password)
        return {"phrase": phrase, "passphrase": passphrase}

    def export_raw_key(self, password: str, role: str) -> str:
        return wexport.export_raw_key(self.wallet, password, ROLES[role])

    def export_keystore(self, password: str, destination: Path) -> None:
        wexport.export_keystore(self.wallet, password, destination)
