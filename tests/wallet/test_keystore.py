"""The keystore: round trip, bound header, a specific error for each bad input with the file
untouched, 0600, and SIGKILL during a password change at every write step."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.wallet.errors import (
    KeystoreCorrupted,
    KeystoreExists,
    KeystoreMissing,
    UnsupportedKeystoreVersion,
    WeakPassword,
    WrongPassword,
)
from app.wallet.keystore import DEFAULT_SCRYPT, KeystoreFile, ScryptParams, parse, seal

CHEAP = ScryptParams(log2_n=10, r=8, p=1)
PW, PW2 = "correct horse", "battery staple"
SECRET = b"the secret payload"
PUBLIC = {"kind": "test", "keys": ["ab" * 32]}


@pytest.fixture
def store(tmp_path: Path) -> KeystoreFile:
    ks = KeystoreFile(tmp_path / "wallet.json")
    ks.create(SECRET, PUBLIC, PW, CHEAP)
    return ks


def _rewrite(ks: KeystoreFile, edit, fix_checksum: bool = True) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    doc = json.loads(ks.path.read_bytes())
    doc.pop("checksum")
    edit(doc)
    if fix_checksum:
        doc["checksum"] = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    ks.path.write_text(json.dumps(doc))


def test_round_trip_public_and_mode(store: KeystoreFile) -> None:
    assert store.unlock(PW) == SECRET
    assert store.public() == PUBLIC
    if os.name == "posix":
        assert store.mode() == 0o600
    assert SECRET not in store.path.read_bytes()


def test_default_costs_are_not_weakened() -> None:
    assert (DEFAULT_SCRYPT.log2_n, DEFAULT_SCRYPT.r, DEFAULT_SCRYPT.p) == (17, 8, 1)


def test_fresh_salt_and_nonce_each_time() -> None:
    a, b = parse(seal(SECRET, PUBLIC, PW, CHEAP)), parse(seal(SECRET, PUBLIC, PW, CHEAP))
    assert a.salt != b.salt and a.nonce != b.nonce and a.ciphertext != b.ciphertext


def test_password_is_unicode_normalised(tmp_path: Path) -> None:
    ks = KeystoreFile(tmp_path / "k.json")
    ks.create(SECRET, PUBLIC, "pa\u0301ssword-é", CHEAP)  # decomposed é ... composed é
    assert ks.unlock("pa\u0301ssword-e\u0301") == SECRET


def test_change_password(store: KeystoreFile) -> None:
    store.change_password(PW, PW2)
    assert store.unlock(PW2) == SECRET
    with pytest.raises(WrongPassword):
        store.unlock(PW)
    assert store.public() == PUBLIC
    if os.name == "posix":
        assert store.mode() == 0o600


@pytest.mark.parametrize(
    "action,error,message",
    [
        (lambda ks: ks.unlock("not the password"), WrongPassword, "wrong password"),
        (lambda ks: ks.change_password("not the password", PW2), WrongPassword, "wrong password"),
        (lambda ks: ks.change_password(PW, "short"), WeakPassword, "at least 8"),
        (lambda ks: ks.create(SECRET, PUBLIC, PW, CHEAP), KeystoreExists, "refusing to overwrite"),
    ],
)
def test_bad_operations_leave_file_untouched(store, action, error, message) -> None:  # type: ignore[no-untyped-def]
    before = store.path.read_bytes()
    with pytest.raises(error, match=message):
        action(store)
    assert store.path.read_bytes() == before


def _truncate(ks: KeystoreFile) -> None:
    ks.path.write_bytes(ks.path.read_bytes()[:-40])


def _flip_ciphertext(ks: KeystoreFile) -> None:
    data = bytearray(ks.path.read_bytes())
    doc = json.loads(data)
    raw = bytearray(base64.b64decode(doc["ciphertext"]))
    raw[3] ^= 1
    start = data.index(doc["ciphertext"].encode())
    data[start : start + len(doc["ciphertext"])] = base64.b64encode(bytes(raw))
    ks.path.write_bytes(bytes(data))


def _edit(field_edit, fix=True):  # type: ignore[no-untyped-def]
    return lambda ks: _rewrite(ks, field_edit, fix)


CORRUPTIONS = [
    ("truncated", _truncate, KeystoreCorrupted, "truncated or is not valid JSON"),
    ("empty", lambda ks: ks.path.write_bytes(b""), KeystoreCorrupted, "empty"),
    ("binary", lambda ks: ks.path.write_bytes(b"\xff\xfe\x00"), KeystoreCorrupted, "not valid JSON"),
    ("ciphertext bit flip", _flip_ciphertext, KeystoreCorrupted, "checksum does not match"),
    ("not an object", lambda ks: ks.path.write_bytes(b"[1]"), KeystoreCorrupted, "not an object"),
    ("foreign format", _edit(lambda d: d.update(format="x")), KeystoreCorrupted, "not a PoT Miner keystore"),
    ("newer version", _edit(lambda d: d.update(version=2)), UnsupportedKeystoreVersion, "version 2"),
    ("no version", _edit(lambda d: d.pop("version")), KeystoreCorrupted, "version is missing"),
    ("unknown field", _edit(lambda d: d.update(extra=1)), KeystoreCorrupted, "unknown fields"),
    ("unknown kdf", _edit(lambda d: d["kdf"].update(name="pbkdf2")), KeystoreCorrupted, "key derivation"),
    ("unknown cipher", _edit(lambda d: d["cipher"].update(name="rot13")), KeystoreCorrupted, "cipher"),
    ("huge scrypt", _edit(lambda d: d["kdf"].update(log2_n=30)), KeystoreCorrupted, "scrypt"),
    ("weak scrypt", _edit(lambda d: d["kdf"].update(log2_n=4)), KeystoreCorrupted, "scrypt"),
    ("bad salt", _edit(lambda d: d["kdf"].update(salt="!!")), KeystoreCorrupted, "base64"),
    ("short nonce", _edit(lambda d: d["cipher"].update(nonce="AAAA")), KeystoreCorrupted, "expected 12"),
    ("no checksum", _edit(lambda d: None, fix=False), KeystoreCorrupted, "checksum"),
]


@pytest.mark.parametrize("name,corrupt,error,message", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corruption_is_a_clear_error_and_file_untouched(  # type: ignore[no-untyped-def]
    store, name, corrupt, error, message
) -> None:
    corrupt(store)
    damaged = store.path.read_bytes()
    for attempt in (lambda: store.unlock(PW), lambda: store.change_password(PW, PW2), store.public):
        with pytest.raises(error, match=message):
            attempt()
        assert store.path.read_bytes() == damaged


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(public={"kind": "test", "keys": ["cd" * 32]}),
        lambda d: d["kdf"].update(r=4),
    ],
    ids=["public part swapped", "kdf costs lowered"],
)
def test_forged_header_with_fixed_checksum_fails_authentication(store, edit) -> None:  # type: ignore[no-untyped-def]
    _rewrite(store, edit)
    with pytest.raises(WrongPassword):
        store.unlock(PW)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(KeystoreMissing, match="no keystore"):
        KeystoreFile(tmp_path / "none.json").unlock(PW)
    with pytest.raises(KeystoreCorrupted, match="folder"):
        KeystoreFile(tmp_path).public()


def test_scrypt_params_refuse_bad_values() -> None:
    for bad in [dict(log2_n=9), dict(log2_n=21), dict(r=0), dict(p=17), dict(log2_n=True), dict(r=64)]:
        with pytest.raises(ValueError):
            ScryptParams(**bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------- SIGKILL during a password change

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from app import fsutil as atomic
    from app.wallet.keystore import KeystoreFile, ScryptParams

    path, point, old, new = sys.argv[1:5]
    target_call = int(sys.argv[5])
    calls = {"open": 0, "write": 0, "fsync": 0, "replace": 0}

    def killer(name, real):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            if name == point and calls[name] == target_call:
                os.kill(os.getpid(), signal.SIGKILL)
            result = real(*args, **kwargs)
            if point == "after-" + name and calls[name] == target_call:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return wrapped

    for name in calls:
        setattr(atomic.os, name, killer(name, getattr(atomic.os, name)))
        calls[name] = 0
    KeystoreFile(path).change_password(old, new, ScryptParams(10, 8, 1))
    print("finished")
    """
)

# (point, nth call): before creating the temp file, mid-write, before and after the file fsync,
# before and after the rename, before the directory fsync.
KILL_POINTS = [
    ("open", 1),
    ("write", 1),
    ("fsync", 1),
    ("after-fsync", 1),
    ("replace", 1),
    ("after-replace", 1),
    ("open", 2),
]


@pytest.mark.parametrize("point,nth", KILL_POINTS, ids=[f"{p}-{n}" for p, n in KILL_POINTS])
def test_sigkill_during_password_change_leaves_an_openable_keystore(store: KeystoreFile, point: str, nth: int) -> None:
    if os.name != "posix":
        pytest.skip("SIGKILL is POSIX")
    root = Path(__file__).parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(store.path), point, PW, PW2, str(nth)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    opened = []
    for password in (PW, PW2):
        try:
            opened.append((password, store.unlock(password)))
        except WrongPassword:
            pass
    assert len(opened) == 1 and opened[0][1] == SECRET
    expected_new = point in ("after-replace",) or (point == "open" and nth == 2)
    assert opened[0][0] == (PW2 if expected_new else PW)
    # A later change cleans up any temporary the killed writer left.
    store.change_password(opened[0][0], "third password")
    assert [p.name for p in store.path.parent.iterdir()] == [store.path.name]
