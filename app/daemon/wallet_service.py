"""The daemon's one wallet: where its keystore lives, its lock state, and what unlocking starts.

The wallet file is `<datadir>/wallet/wallet.keystore`. Unlocking hands the reward key to the miner
(receipts are signed with it and rewards paid to it); locking takes it back, so an unattended daemon
holds keys only while the user wants it to mine. Balances and history come from the node's chain.

Mining resumes after a restart with no password: the reward key is also kept "hot" (app/wallet/hotkey.py,
the OS keyring or a user-only file) and handed to the miner at start, while the spending key stays
encrypted and every send asks for the password. A wallet imported from one raw key has a single key
for both roles, so it is never kept hot (that would leave the savings key unencrypted on disk).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.address import decode_address, encode_address
from app.core.crypto import SigningKey
from app.core.errors import InvalidAddress
from app.core.types import Transfer
from app.daemon.wallet_recovery import FIX, keep_aside, open_wallet
from app.wallet import export as wexport
from app.wallet.accounts import KIND_RAW_KEY, ROLE_REWARD, ROLE_SPENDING
from app.wallet.errors import KeystoreExists, KeystoreMissing, PasswordRequired, WalletError
from app.wallet.history import build_history
from app.wallet.hotkey import HotKeyStore
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

    def __init__(
        self, data_dir: Path, hrp: str, on_keys: OnKeys, redact: Callable[[str], None], hot: HotKeyStore | None = None
    ) -> None:
        self.path = Path(data_dir) / KEYSTORE
        self.hot = hot if hot is not None else HotKeyStore(self.path.parent)
        self._hot_key: SigningKey | None = None  # the reward key mining uses while the wallet is locked
        self.hrp = hrp
        self._on_keys = on_keys
        self._redact = redact
        self._lock = threading.RLock()
        self._wallet: Wallet | None
        self._wallet, self.damaged = open_wallet(self.path, hrp)  # a damaged file never stops the daemon

    # -- state ----------------------------------------------------------------------------------
    @property
    def wallet(self) -> Wallet:
        if self._wallet is None and self.damaged is not None:
            raise NoWallet(f"the wallet file is damaged ({self.damaged.reason}): {FIX}")
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
            damaged = {"damaged": self.damaged.to_json()} if self.damaged is not None else {}
            return {"exists": False, "locked": True, "addresses": {}, **damaged}
        return {
            "exists": True,
            "locked": self._wallet.is_locked,
            "addresses": self._wallet.addresses(),
            "wallet_id": self._wallet.wallet_id,
            "has_seed_phrase": self._wallet.has_seed_phrase,
            "keys": self.key_roles(),
        }

    def key_roles(self) -> dict[str, Any]:
        """Which key holds what and where it is kept (the window's wallet page says it in words)."""
        wallet = self.wallet
        single = wallet.watch_only.kind == KIND_RAW_KEY
        hot = self.hot.info(wallet.wallet_id)
        mining_key = self._hot_key is not None or not wallet.is_locked
        return {
            "single_key": single,
            "spending": {
                "address": wallet.spending_address,
                "kept": "encrypted keystore (password)",
                "holds": "savings; every send asks for the password",
            },
            "reward": {
                "address": wallet.reward_address,
                "holds": "mining rewards, until moved to spending",
                "kept": (
                    "the same key as spending (imported from one private key): never kept "
                    "unencrypted, so mining after a restart needs the password"
                )
                if single
                else {
                    "keyring": f"OS keyring ({hot.detail})",
                    "file": f"file readable only by you ({hot.detail})",
                    "": "encrypted keystore only: unlock once to keep it for unattended mining",
                }[hot.where],
                "mining_ready": mining_key,
            },
        }

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
        if self._wallet is None and self.damaged is not None:  # the new wallet takes the damaged file's place
            keep_aside(self.damaged)
            self.damaged = None
        if self._wallet is not None or self.path.exists():
            raise KeystoreExists(
                f"this data folder already has a wallet ({self.path}); export it and use another data folder "
                "(--datadir) to keep two"
            )

    def _installed(self, wallet: Wallet) -> None:
        self._wallet = wallet
        self._keep_hot(wallet)
        self._on_keys(wallet.keys.reward)

    def _keep_hot(self, wallet: Wallet) -> None:
        """Keep the unlocked wallet's reward key hot, so mining resumes after a restart by itself."""
        if wallet.watch_only.kind == KIND_RAW_KEY:
            return
        try:
            self.hot.save(wallet.wallet_id, wallet.keys.reward)
            self._hot_key = wallet.keys.reward
        except OSError as exc:  # mining goes on now; only the resume after a restart needs the password
            log.warning("could not keep the reward key for unattended mining: %s", exc)

    def resume(self) -> bool:
        """At daemon start: hand the hot reward key to the miner with no password. False when there is
        none (no wallet, a single-key wallet, or never unlocked on this machine)."""
        with self._lock:
            if self._wallet is None or self._wallet.watch_only.kind == KIND_RAW_KEY:
                return False
            key = self.hot.load(self._wallet.wallet_id, self._wallet.watch_only.reward_public)
            if key is None:
                return False
            self._hot_key = key
            self._on_keys(key)
            log.info("mining resumes with the reward key kept for unattended mining (spending stays locked)")
            return True

    def forget_hot_key(self) -> None:
        """Stop unattended mining: delete the kept reward key; mining stops unless the wallet is unlocked."""
        with self._lock:
            self.hot.forget(self.wallet.wallet_id)
            self._hot_key = None
            if self.wallet.is_locked:
                self._on_keys(None)

    def reward_key(self) -> SigningKey:
        """The reward key for moving rewards to the spending account: hot, or from the unlocked wallet."""
        if self._hot_key is not None:
            return self._hot_key
        return self.wallet.keys.reward  # raises WalletLocked

    def sweep_target(self) -> str:
        """The spending address rewards are moved to; refuses a single-key wallet (nothing to move)."""
        if self.wallet.watch_only.kind == KIND_RAW_KEY:
            raise WalletError(
                "this wallet has one key for both roles (imported from a private key): "
                "rewards already arrive on the spending account"
            )
        return self.wallet.spending_address

    # -- lock -----------------------------------------------------------------------------------
    def unlock(self, password: str) -> None:
        with self._lock:
            self._redact(password)
            self.wallet.unlock(password)
            self._keep_hot(self.wallet)
            self._on_keys(self.wallet.keys.reward)

    def lock(self) -> None:
        """Forget the decrypted keys; mining goes on with the kept reward key when there is one."""
        with self._lock:
            self.wallet.lock()
            self._on_keys(self._hot_key)

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

    def send_key(self, role: str, password: str) -> SigningKey:
        """The key that pays a send: the password is required every time (an unlocked wallet, which
        mining once needed, is not enough), and a wrong one refuses the send."""
        if not password:
            raise PasswordRequired(
                "sending needs the wallet password, every time (the CLI reads it from "
                "--password-file, $POTMINER_PASSWORD or a prompt)"
            )
        return self.signing_key(role, password)

    def check_address(self, address: str) -> dict[str, Any]:
        """Whether `address` is a valid address of this network, and why not (for a form, as it is typed)."""
        try:
            decode_address(address, self.hrp)
        except InvalidAddress as exc:
            return {"address": address, "valid": False, "reason": str(exc)}
        return {"address": address.strip(), "valid": True, "reason": ""}

    def build_send(
        self, key: SigningKey, to: str, amount: int, fee: int, memo: str, nonce: int, balance: int, chain_id: str
    ) -> Transfer:
        return build_transfer(key, chain_id, self.hrp, to, amount, fee, nonce, memo, balance)

    def history(
        self,
        txs_of: Callable[[bytes], list[Any]],
        rewards_of: Callable[[bytes], list[Any]],
        time_of: Callable[[int], int | None] = lambda _h: None,
    ) -> list[dict[str, Any]]:
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
        return [
            {
                "height": e.height,
                "time": time_of(e.height),
                "kind": e.kind,
                "delta": e.delta,
                "amount": format_amount(abs(e.delta)),
                "fee": e.fee,
                "counterparty": encode_address(e.counterparty, self.hrp) if e.counterparty else None,
                "reference": e.reference.hex(),
                "memo": e.memo,
            }
            for e in build_history(own, ordered, sorted(rewards, key=lambda item: item[0]))
        ]

    # -- exports (each re-asks the password) ------------------------------------------------------
    def export_phrase(self, password: str) -> dict[str, str]:
        phrase, passphrase = wexport.export_phrase(self.wallet, password)
        return {"phrase": phrase, "passphrase": passphrase}

    def export_raw_key(self, password: str, role: str) -> str:
        return wexport.export_raw_key(self.wallet, password, ROLES[role])

    def export_keystore(self, password: str, destination: Path) -> None:
        wexport.export_keystore(self.wallet, password, destination)
