"""The encrypted keystore file: versioned JSON, scrypt + AES-256-GCM, header bound as associated data.

Layout (version 1), every value JSON text:

    {"format": "potminer-keystore", "version": 1,
     "kdf": {"name": "scrypt", "salt": b64(16 bytes), "log2_n": 17, "r": 8, "p": 1},
     "cipher": {"name": "aes-256-gcm", "nonce": b64(12 bytes)},
     "public": {...},                       # watch-only data, e.g. public keys
     "ciphertext": b64(AES-GCM output, tag included),
     "checksum": hex(SHA-256(canonical JSON of all the other fields))}

The AEAD key is scrypt(NFKC(password), salt). The associated data is the canonical JSON (sorted keys,
no spaces) of the header: format, version, kdf, cipher and public. Editing any of them (say, to show
a thief's address while the wallet is locked) makes decryption fail. The unencrypted checksum lets
the app tell accidental damage ("corrupted") from a wrong password, which AES-GCM alone cannot; a
deliberate forger who fixes the checksum still fails the AEAD tag.

Nothing here ever writes the file in place: every change goes through `atomic.write_atomic`, and a
failed operation leaves the file byte-for-byte as it was.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from app.fsutil import write_atomic
from app.wallet.errors import (
    KeystoreCorrupted,
    KeystoreExists,
    KeystoreMissing,
    UnsupportedKeystoreVersion,
    WeakPassword,
    WrongPassword,
)

FORMAT = "potminer-keystore"
VERSION = 1
SALT_LEN = 16
NONCE_LEN = 12
KEY_LEN = 32
MAX_FILE_SIZE = 64 * 1024
MIN_PASSWORD_LEN = 8
# scrypt bounds accepted when reading: below the floor a stolen file is cheap to brute-force,
# above the ceiling (1 GiB of memory) a crafted file could exhaust the machine.
MIN_LOG2_N, MAX_LOG2_N = 10, 20
MAX_SCRYPT_MEMORY = 1 << 30


@dataclass(frozen=True)
class ScryptParams:
    """scrypt costs. The default (N=2^17, r=8: 128 MiB, about 0.4 s) is tuned for a desktop unlock;
    tests pass a cheap one explicitly rather than weakening the default."""

    log2_n: int = 17
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not all(type(v) is int for v in (self.log2_n, self.r, self.p)):
            raise ValueError("scrypt parameters must be integers")
        if not MIN_LOG2_N <= self.log2_n <= MAX_LOG2_N:
            raise ValueError(f"scrypt log2_n {self.log2_n} outside {MIN_LOG2_N}..{MAX_LOG2_N}")
        if not 1 <= self.r <= 32 or not 1 <= self.p <= 16:
            raise ValueError("scrypt r must be 1..32 and p 1..16")
        if 128 * self.r * (1 << self.log2_n) > MAX_SCRYPT_MEMORY:
            raise ValueError("scrypt parameters need more than 1 GiB of memory")

    def derive(self, password: str, salt: bytes) -> bytes:
        return Scrypt(salt=salt, length=KEY_LEN, n=1 << self.log2_n, r=self.r, p=self.p).derive(
            password_bytes(password)
        )


DEFAULT_SCRYPT = ScryptParams()


def password_bytes(password: str) -> bytes:
    """NFKC then UTF-8, so one password typed on two keyboards or systems gives one key."""
    if not isinstance(password, str):
        raise WrongPassword("a password is text")
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def check_new_password(password: str) -> None:
    if not isinstance(password, str) or len(unicodedata.normalize("NFKC", password)) < MIN_PASSWORD_LEN:
        raise WeakPassword(f"choose a password of at least {MIN_PASSWORD_LEN} characters")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, name: str, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise KeystoreCorrupted(f"keystore field {name} is not text")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeystoreCorrupted(f"keystore field {name} is not valid base64") from None
    if length is not None and len(data) != length:
        raise KeystoreCorrupted(f"keystore field {name} is {len(data)} bytes, expected {length}")
    return data


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise KeystoreCorrupted(f"keystore field {name} is missing or not an object")
    return value


@dataclass(frozen=True)
class Sealed:
    """A parsed, checksum-verified keystore document (nothing in it is secret)."""

    header: dict[str, Any]
    kdf: ScryptParams
    salt: bytes
    nonce: bytes
    ciphertext: bytes

    @property
    def public(self) -> dict[str, Any]:
        return dict(self.header["public"])

    def open(self, password: str) -> bytes:
        key = self.kdf.derive(password, self.salt)
        try:
            return AESGCM(key).decrypt(self.nonce, self.ciphertext, _canonical(self.header))
        except InvalidTag:
            raise WrongPassword("wrong password") from None


def seal(plaintext: bytes, public: dict[str, Any], password: str, kdf: ScryptParams) -> bytes:
    """The complete file content holding `plaintext` encrypted under `password`."""
    salt, nonce = secrets.token_bytes(SALT_LEN), secrets.token_bytes(NONCE_LEN)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "kdf": {"name": "scrypt", "salt": _b64(salt), "log2_n": kdf.log2_n, "r": kdf.r, "p": kdf.p},
        "cipher": {"name": "aes-256-gcm", "nonce": _b64(nonce)},
        "public": public,
    }
    ciphertext = AESGCM(kdf.derive(password, salt)).encrypt(nonce, plaintext, _canonical(header))
    document = dict(header, ciphertext=_b64(ciphertext))
    document["checksum"] = hashlib.sha256(_canonical(document)).hexdigest()
    return json.dumps(document, sort_keys=True, indent=1).encode() + b"\n"


def parse(content: bytes) -> Sealed:
    """Parse and check a keystore's bytes without a password; raise a specific `KeystoreError`."""
    if not content:
        raise KeystoreCorrupted("keystore file is empty")
    if len(content) > MAX_FILE_SIZE:
        raise KeystoreCorrupted(f"keystore file is larger than {MAX_FILE_SIZE} bytes")
    try:
        document = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise KeystoreCorrupted("keystore file is truncated or is not valid JSON") from None
    document = _object(document, "(document)")
    if document.get("format") != FORMAT:
        raise KeystoreCorrupted("this file is not a PoT Miner keystore")
    version = document.get("version")
    if type(version) is not int:
        raise KeystoreCorrupted("keystore version is missing")
    if version != VERSION:
        raise UnsupportedKeystoreVersion(
            f"keystore version {version} is not supported (this app reads version {VERSION}); a newer app wrote it"
        )
    checksum = document.pop("checksum", None)
    if not isinstance(checksum, str) or hashlib.sha256(_canonical(document)).hexdigest() != checksum:
        raise KeystoreCorrupted("keystore file is damaged (its checksum does not match)")
    expected = {"format", "version", "kdf", "cipher", "public", "ciphertext"}
    if set(document) != expected:
        raise KeystoreCorrupted("keystore has missing or unknown fields")
    kdf, cipher = _object(document["kdf"], "kdf"), _object(document["cipher"], "cipher")
    _object(document["public"], "public")
    if kdf.get("name") != "scrypt" or set(kdf) != {"name", "salt", "log2_n", "r", "p"}:
        raise KeystoreCorrupted("keystore names an unknown key derivation function")
    if cipher.get("name") != "aes-256-gcm" or set(cipher) != {"name", "nonce"}:
        raise KeystoreCorrupted("keystore names an unknown cipher")
    try:
        params = ScryptParams(kdf["log2_n"], kdf["r"], kdf["p"])
    except ValueError as exc:
        raise KeystoreCorrupted(f"keystore has unusable scrypt costs: {exc}") from None
    header = {k: document[k] for k in ("format", "version", "kdf", "cipher", "public")}
    ciphertext = _unb64(document["ciphertext"], "ciphertext")
    if len(ciphertext) < 16:
        raise KeystoreCorrupted("keystore ciphertext is too short to hold its tag")
    return Sealed(
        header=header,
        kdf=params,
        salt=_unb64(kdf["salt"], "kdf.salt", SALT_LEN),
        nonce=_unb64(cipher["nonce"], "cipher.nonce", NONCE_LEN),
        ciphertext=ciphertext,
    )


def set_aside(path: Path, now: datetime | None = None) -> Path:
    """Rename an unusable keystore to `<name>.damaged-<UTC time>` next to it and return the new path.

    Never overwrites anything (a hard link refuses an existing name; where links are not supported the
    rename happens only if the name is free), so what the user had stays on disk for a later rescue.
    """
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1000):
        target = path.with_name(f"{path.name}.damaged-{stamp}" + (f"-{n}" if n else ""))
        try:
            os.link(path, target)
        except FileExistsError:
            continue
        except OSError:  # no hard links here (some file systems): rename onto a name that is free
            if target.exists():
                continue
            os.replace(path, target)
            return target
        os.unlink(path)
        return target
    raise KeystoreExists(f"could not find a free name to keep {path} aside")


class KeystoreFile:
    """One keystore on disk. Reads never modify it; writes are atomic and leave mode 0600."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"KeystoreFile({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.exists()

    def read_bytes(self) -> bytes:
        try:
            with open(self.path, "rb") as f:
                return f.read(MAX_FILE_SIZE + 1)
        except FileNotFoundError:
            raise KeystoreMissing(f"no keystore at {self.path}") from None
        except IsADirectoryError:
            raise KeystoreCorrupted(f"{self.path} is a folder, not a keystore file") from None

    def load(self) -> Sealed:
        return parse(self.read_bytes())

    def public(self) -> dict[str, Any]:
        """The watch-only part, readable without the password."""
        return self.load().public

    def unlock(self, password: str) -> bytes:
        return self.load().open(password)

    def create(
        self, plaintext: bytes, public: dict[str, Any], password: str, kdf: ScryptParams = DEFAULT_SCRYPT
    ) -> None:
        """Write a new keystore; never overwrites an existing file."""
        check_new_password(password)
        if self.path.exists():
            raise KeystoreExists(f"a keystore already exists at {self.path}; refusing to overwrite it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, seal(plaintext, public, password, kdf))

    def write_content(self, content: bytes) -> None:
        """Install already-sealed bytes (an imported keystore) after checking they parse."""
        parse(content)
        if self.path.exists():
            raise KeystoreExists(f"a keystore already exists at {self.path}; refusing to overwrite it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, content)

    def change_password(self, old: str, new: str, kdf: ScryptParams | None = None) -> None:
        """Re-encrypt under `new` with a fresh salt and nonce; one atomic replace, so a crash at any
        point leaves a file that opens with `old` or with `new`."""
        check_new_password(new)
        sealed = self.load()
        plaintext = sealed.open(old)
        write_atomic(self.path, seal(plaintext, sealed.public, new, kdf or sealed.kdf))

    def mode(self) -> int:
        return os.stat(self.path).st_mode & 0o777
