"""Drive every wallet operation, good and bad, and grep everything observable for the secrets.

Logs (DEBUG, every logger), exception texts with their causes and tracebacks, reprs, and every file
in the temporary folder are searched for the phrase, passphrase, BIP39 seed, private keys and
passwords, as plain text, hex and base64. Keystore files may hold them only encrypted.
"""

from __future__ import annotations

import base64
import logging
import traceback
from pathlib import Path

import keyring.backends.null
import pytest

from app.core.errors import PotError
from app.wallet import export, hd, mnemonic
from app.wallet.accounts import ROLE_REWARD, WalletSecret
from app.wallet.history import build_history, export_csv
from app.wallet.keyring_store import KeyringStore
from app.wallet.tx import build_transfer
from app.wallet.wallet import Wallet
from tests.wallet.conftest import CHEAP, HRP, MemoryKeyring

PW, PW2, WEAK = "Tr0ub4dor&3-first", "correct-horse-second", "weakpw1"
PASSPHRASE = "my extra twenty-fifth words"


def _forms(secret: str | bytes) -> list[bytes]:
    raw = secret.encode() if isinstance(secret, str) else secret
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw)]


def test_no_secret_reaches_logs_errors_reprs_or_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen_texts: list[str] = []
    errors: list[BaseException] = []

    def expect_error(action) -> None:  # type: ignore[no-untyped-def]
        try:
            action()
        except (PotError, ValueError) as exc:
            errors.append(exc)
        else:
            raise AssertionError("expected an error")

    path = tmp_path / "wallet.json"
    wallet, phrase = Wallet.create(path, PW, HRP, passphrase=PASSPHRASE, kdf=CHEAP)
    seen_texts += [repr(wallet), repr(wallet.keystore), repr(wallet.keys), repr(wallet.keys.spending)]
    seen_texts += [repr(WalletSecret.from_phrase(phrase, PASSPHRASE)), repr(hd.master(bytes(32)))]
    memory = MemoryKeyring()
    store = KeyringStore(memory)
    store.remember(wallet.wallet_id, PW)  # the one place the password may rest, as the user asked
    wallet.lock()
    assert wallet.unlock_with_keyring(store)
    wallet.change_password(PW, PW2, keyring=store)
    wallet.lock()
    wallet.unlock(PW2)
    seen_texts.append(repr(wallet))

    shown_phrase, _ = export.export_phrase(wallet, PW2)
    raw_spend = export.export_raw_key(wallet, PW2)
    raw_reward = export.export_raw_key(wallet, PW2, ROLE_REWARD)
    export.export_keystore(wallet, PW2, tmp_path / "backup.json")
    export.import_keystore(tmp_path / "backup.json", tmp_path / "imported.json", PW2, HRP)
    export.import_raw_key(tmp_path / "raw.json", raw_spend, PW2, HRP, CHEAP)
    Wallet.restore(tmp_path / "restored.json", shown_phrase, PW2, HRP, PASSPHRASE, CHEAP)

    tx = build_transfer(wallet.keys.spending, "potd-1", HRP, wallet.reward_address, 5, 1, 0, balance=10)
    export_csv(build_history(wallet.watch_only.accounts(), [(1, tx)], []), HRP, tmp_path / "h.csv")

    words = phrase.split()
    bad_phrase = " ".join(words[:-1] + [words[0] if words[-1] != words[0] else words[1]])
    expect_error(lambda: wallet.unlock(PW))
    expect_error(lambda: wallet.change_password(PW, PW2))
    expect_error(lambda: wallet.change_password(PW2, WEAK))
    expect_error(lambda: export.export_phrase(wallet, PW))
    expect_error(lambda: export.export_raw_key(wallet, PASSPHRASE))
    expect_error(lambda: Wallet.restore(tmp_path / "x.json", bad_phrase, PW, HRP, kdf=CHEAP))
    expect_error(lambda: Wallet.restore(tmp_path / "x.json", phrase.replace(words[3], words[3] + "x"), PW, HRP))
    expect_error(lambda: export.import_raw_key(tmp_path / "y.json", raw_spend[:-2] + "zz", PW, HRP, CHEAP))
    expect_error(lambda: export.import_raw_key(tmp_path / "y.json", raw_spend[:-1], PW, HRP, CHEAP))
    expect_error(lambda: KeyringStore(keyring.backends.null.Keyring()).remember(wallet.wallet_id, PW2))
    (tmp_path / "broken.json").write_bytes(path.read_bytes()[:-30])
    expect_error(lambda: Wallet(tmp_path / "broken.json", HRP))
    expect_error(lambda: mnemonic.validate(phrase + " " + words[0]))

    for exc in errors:
        seen_texts.append("".join(traceback.format_exception(exc)))
        seen_texts.append(repr(exc))
    seen_texts += [record.getMessage() for record in caplog.records]
    seen_texts.append(caplog.text)
    assert caplog.records, "operations should log something for this scan to mean anything"

    seed = mnemonic.to_seed(phrase, PASSPHRASE)
    secrets_: list[str | bytes] = [phrase, PASSPHRASE, seed, PW, PW2, WEAK, raw_spend, raw_reward,
                                   bytes.fromhex(raw_spend), bytes.fromhex(raw_reward)]  # fmt: skip
    needles = [form for secret in secrets_ for form in _forms(secret)]
    haystack = "\n".join(seen_texts).encode()
    for needle in needles:
        assert needle not in haystack

    keystores = {"wallet.json", "backup.json", "imported.json", "raw.json", "restored.json", "broken.json"}
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in files} == keystores | {"h.csv"}
    for file in files:
        content = file.read_bytes()
        for needle in needles:
            assert needle not in content, f"secret found in {file.name}"
    assert memory.entries == {("potminer", wallet.wallet_id): PW2}
