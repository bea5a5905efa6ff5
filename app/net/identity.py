"""The node's persistent Ed25519 peer identity.

The peer id is what other nodes score and ban, so it must survive restarts: the 32-byte seed lives in
one file, created with mode 0600 and written atomically (write a temporary file, fsync, rename,
fsync the folder) so a crash never leaves a half-written key that would silently change the id.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

from app.fsutil import write_atomic
from app.net.errors import IdentityError

SEED_LEN = 32
_MAGIC = b"PoT-p2p-ed25519-v1\n"


def load_or_create_identity(path: Path) -> KeyPair:
    """Load the key at `path`, or create it there if the file does not exist."""
    path = Path(path)
    if path.exists():
        return load_identity(path)
    seed = os.urandom(SEED_LEN)
    _write_atomic(path, _MAGIC + seed)
    return create_new_key_pair(seed)


def load_identity(path: Path) -> KeyPair:
    """Read a key file, refusing a malformed one or one other users can read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read identity {path}: {exc.strerror}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IdentityError(f"identity {path} is accessible by other users (mode {oct(mode & 0o777)})")
    if not data.startswith(_MAGIC) or len(data) != len(_MAGIC) + SEED_LEN:
        raise IdentityError(f"identity {path} is not a PoT peer key file")
    return create_new_key_pair(data[len(_MAGIC) :])


def peer_id_of(key_pair: KeyPair) -> ID:
    return ID.from_pubkey(key_pair.public_key)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, mode=0o600)
