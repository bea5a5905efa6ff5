"""Logging: one line per record in a rotating file, secrets never written, a ring buffer for the viewer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from mnemonic import Mnemonic

from app.log import LOG_NAME, REDACTED, LogEntry, Redactor, setup_logging, short_id

PHRASE_12 = Mnemonic("english").to_mnemonic(bytes(range(16)))
PHRASE_24 = Mnemonic("english").to_mnemonic(bytes(range(32)))
KEY = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[tuple[logging.Logger, Path, object]]:
    setup = setup_logging(tmp_path, level="DEBUG", module_levels={"test.quiet": "WARNING"}, logger_name="test")
    yield logging.getLogger("test.mod"), tmp_path / LOG_NAME, setup
    setup.close()


def test_secrets_never_reach_file_or_ring(logged: tuple) -> None:
    log, path, setup = logged
    setup.redactor.add_secret("hunter2-password")
    log.info("restored wallet from %s", PHRASE_12)
    log.info("seed: %s.", PHRASE_24)
    log.warning("raw key %s and 0x%s", KEY, KEY.upper())
    log.info("unlock with hunter2-password please")
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        log.exception("import failed")
    text = path.read_text()
    ring = "\n".join(e.message for e in setup.ring.recent())
    for secret in (
        PHRASE_12,
        PHRASE_24,
        KEY,
        KEY.upper(),
        "hunter2-password",
        PHRASE_12.split()[3] + " " + PHRASE_12.split()[4] + " " + PHRASE_12.split()[5],
    ):
        assert secret not in text and secret not in ring
    assert text.count(REDACTED) >= 6 and "restored wallet from" in text and "Traceback" in text


def test_ordinary_text_is_left_alone() -> None:
    r = Redactor()
    for text in (
        "block 3f2a9c01d4e5f6a7 at height 12 accepted",
        "the quick brown fox jumps over the lazy dog again and again today",  # not all BIP39 words
        "abandon ability able about above absent absorb abstract absurd abuse access",  # 11 words
        "hash " + "a" * 63,
    ):
        assert r.redact(text) == text
    assert r.redact("x " + "a" * 128 + " y") == f"x {REDACTED} y"
    assert short_id(KEY) == KEY[:16] and r.redact(short_id(KEY)) == KEY[:16]


def test_a_short_secret_is_redacted_where_it_stands_alone_and_never_raises() -> None:
    r = Redactor()
    r.add_secret("abc")  # a wrong password typed by the user: used to raise ValueError
    r.add_secret("")
    assert r.redact("password 'abc' refused") == f"password '{REDACTED}' refused"
    assert r.redact("abc") == REDACTED
    assert r.redact("the abacus cabcd abcabc") == "the abacus cabcd abcabc"  # inside words: left alone


def test_one_line_format_and_per_module_levels(logged: tuple) -> None:
    log, path, _ = logged
    log.info("two\nlines")
    logging.getLogger("test.quiet.sub").info("hidden")
    logging.getLogger("test.quiet.sub").warning("shown")
    try:
        1 / 0
    except ZeroDivisionError:
        log.error("with trace", exc_info=True)
    lines = path.read_text().splitlines()
    assert any(line.endswith("INFO    test.mod: two\\nlines") for line in lines)
    assert not any("hidden" in line for line in lines) and any("test.quiet.sub: shown" in line for line in lines)
    trace_start = next(i for i, line in enumerate(lines) if "with trace" in line)
    assert lines[trace_start + 1].startswith("  | Traceback")
    assert all(line[:4].isdigit() or line.startswith("  | ") for line in lines)


def test_ring_buffer_filters_and_notifies(logged: tuple) -> None:
    log, _, setup = logged
    seen: list[LogEntry] = []
    remove = setup.ring.add_listener(seen.append)
    for i in range(5):
        log.info("info %d", i)
    log.warning("careful")
    remove()
    log.info("after removal")
    assert [e.message for e in seen] == [f"info {i}" for i in range(5)] + ["careful"]
    assert [e.message for e in setup.ring.recent(min_level="WARNING")] == ["careful"]
    assert [e.message for e in setup.ring.recent(limit=2)] == ["careful", "after removal"]
    after = seen[2].seq
    assert [e.message for e in setup.ring.recent(after_seq=after)][:2] == ["info 3", "info 4"]
    with pytest.raises(ValueError, match="unknown log level"):
        setup.ring.recent(min_level="LOUD")


def test_listener_that_logs_does_not_loop(logged: tuple) -> None:
    log, _, setup = logged
    calls: list[str] = []

    def chatty(entry: LogEntry) -> None:
        calls.append(entry.message)
        log.info("listener saw %s", entry.message)

    setup.ring.add_listener(chatty)
    log.info("start")
    assert calls == ["start"]
    assert [e.message for e in setup.ring.recent()][-2:] == ["start", "listener saw start"]


def test_rotation_keeps_bounded_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.log.MAX_BYTES", 2000)
    setup = setup_logging(tmp_path, logger_name="rot")
    try:
        for i in range(400):
            logging.getLogger("rot").info("line %d %s", i, "x" * 50)
    finally:
        setup.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files[0] == LOG_NAME and len(files) == 6  # current + 5 backups
    assert all((tmp_path / f).stat().st_size <= 2100 for f in files)


def test_bad_level_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        setup_logging(None, level="LOUD", logger_name="bad")
