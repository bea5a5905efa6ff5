"""Raw Ed25519 key files for devnets and node identities: 32-byte seed as hex, written 0600 atomically.

A devnet has no wallet to unlock, so its node keys are plain seeds; a production node would take its
key from app/wallet instead. The file holds nothing but the hex seed, so it is easy to inspect.
"""

from __future__ import annotations

from pathlib import Path

from app.core.crypto import SigningKey
from app.fsutil import write_atomic


class KeyFileError(ValueError):
    """A key file that is missing, unreadable or not a 32-byte hex seed."""


def save_key(path: Path, key: SigningKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, key.seed().hex().encode() + b"\n", mode=0o600)


def load_key(path: Path) -> SigningKey:
    try:
        text = path.read_text(encoding="ascii").strip()
        return SigningKey.from_seed(bytes.fromhex(text))
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(f"{path} does not hold a 32-byte hex seed") from None
