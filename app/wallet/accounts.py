"""Which key does what: a spending key for savings and a reward key for mining, both from one seed.

The Bittensor coldkey/hotkey lesson: the key a miner uses unattended (signing work receipts, receiving
rewards) lives in the running daemon and is exposed to everything that can read its memory, so it must
not also be the key that holds the volunteer's savings. Both keys derive from the one BIP39 seed, so a
single phrase restores both:

    spending key  m/44'/COIN'/account'/0'/0'   receives transfers, holds savings
    reward key    m/44'/COIN'/account'/1'/0'   named in work receipts; rewards are paid to it

Rewards accumulate at the reward address and are swept to the spending address by an ordinary
transfer. A wallet imported from one raw private key has no seed: that key plays both roles.
The public keys are kept unencrypted in the keystore header so the app can show addresses and
balances while locked (watch-only); they are authenticated as AEAD associated data on every unlock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.core.address import encode_address
from app.core.crypto import SigningKey, key_hash
from app.wallet import hd, mnemonic
from app.wallet.errors import InvalidPrivateKey, KeystoreCorrupted

ROLE_SPENDING = 0
ROLE_REWARD = 1
KIND_MNEMONIC = "mnemonic"
KIND_RAW_KEY = "raw_key"


@dataclass(frozen=True)
class WatchOnly:
    """The public half of a wallet: enough to show addresses and look up balances, nothing to sign."""

    kind: str
    spending_public: bytes
    reward_public: bytes

    def spending_address(self, hrp: str) -> str:
        return encode_address(key_hash(self.spending_public), hrp)

    def reward_address(self, hrp: str) -> str:
        return encode_address(key_hash(self.reward_public), hrp)

    def accounts(self) -> set[bytes]:
        """The 20-byte account ids this wallet owns (one when both roles share a key)."""
        return {key_hash(self.spending_public), key_hash(self.reward_public)}

    @property
    def wallet_id(self) -> str:
        """A stable, non-secret name for this wallet (keyring entries, file names)."""
        return key_hash(self.spending_public).hex()

    def to_public(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "spending_key": self.spending_public.hex(),
            "reward_key": self.reward_public.hex(),
        }

    @classmethod
    def from_public(cls, public: dict[str, Any]) -> "WatchOnly":
        try:
            kind = public["kind"]
            spending, reward = bytes.fromhex(public["spending_key"]), bytes.fromhex(public["reward_key"])
        except (KeyError, TypeError, ValueError):
            raise KeystoreCorrupted("keystore's public part is malformed") from None
        if kind not in (KIND_MNEMONIC, KIND_RAW_KEY) or len(spending) != 32 or len(reward) != 32:
            raise KeystoreCorrupted("keystore's public part is malformed")
        return cls(kind, spending, reward)


@dataclass(frozen=True, repr=False)
class Keys:
    """The unlocked signing keys."""

    spending: SigningKey
    reward: SigningKey

    def watch_only(self, kind: str) -> WatchOnly:
        return WatchOnly(kind, self.spending.public_key, self.reward.public_key)

    def __repr__(self) -> str:
        return "Keys(<unlocked>)"


@dataclass(frozen=True, repr=False)
class WalletSecret:
    """What the keystore encrypts: a seed phrase (with passphrase and account) or one raw key."""

    kind: str
    phrase: str = ""
    passphrase: str = ""
    account: int = 0
    private_key: bytes = b""

    def __repr__(self) -> str:
        return f"WalletSecret(kind={self.kind!r}, <secret>)"

    @classmethod
    def from_phrase(cls, phrase: str, passphrase: str = "", account: int = 0) -> "WalletSecret":
        return cls(KIND_MNEMONIC, phrase=mnemonic.validate(phrase), passphrase=passphrase, account=account)

    @classmethod
    def from_private_key_hex(cls, text: str) -> "WalletSecret":
        if not isinstance(text, str):
            raise InvalidPrivateKey("a private key is 64 hexadecimal characters")
        text = text.strip().lower().removeprefix("0x")
        if len(text) != 64:
            raise InvalidPrivateKey(f"a private key is 64 hexadecimal characters, this has {len(text)}")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise InvalidPrivateKey("a private key has only hexadecimal characters (0-9, a-f)") from None
        return cls(KIND_RAW_KEY, private_key=raw)

    def keys(self) -> Keys:
        if self.kind == KIND_RAW_KEY:
            key = SigningKey.from_seed(self.private_key)
            return Keys(key, key)
        seed = mnemonic.to_seed(self.phrase, self.passphrase)
        return Keys(
            hd.derive(seed, hd.project_path(self.account, ROLE_SPENDING, 0)).signing_key(),
            hd.derive(seed, hd.project_path(self.account, ROLE_REWARD, 0)).signing_key(),
        )

    def to_bytes(self) -> bytes:
        if self.kind == KIND_RAW_KEY:
            body: dict[str, Any] = {"kind": self.kind, "private_key": self.private_key.hex()}
        else:
            body = {"kind": self.kind, "phrase": self.phrase, "passphrase": self.passphrase, "account": self.account}
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "WalletSecret":
        try:
            body = json.loads(data)
            if body["kind"] == KIND_RAW_KEY:
                raw = bytes.fromhex(body["private_key"])
                if len(raw) != 32:
                    raise ValueError
                return cls(KIND_RAW_KEY, private_key=raw)
            if body["kind"] == KIND_MNEMONIC and type(body["account"]) is int and isinstance(body["passphrase"], str):
                return cls(KIND_MNEMONIC, mnemonic.validate(body["phrase"]), body["passphrase"], body["account"])
        except Exception:  # any shape error; its text could quote the secret, so it is dropped
            pass
        raise KeystoreCorrupted("keystore's decrypted content is malformed")
