"""Logging for every process: rotating files, one readable line per record, secrets redacted, and a
ring buffer of recent lines that the RPC `logs` method and the window's log viewer read.

Redaction runs as a filter on each handler, before anything is formatted, so no handler (file, console,
ring buffer) ever sees a secret: registered secrets (the RPC token, a password typed this session),
BIP39 phrases of 12 or more words, and 64-hex strings (raw private keys). Block and transaction ids are
64-hex too: log them shortened (`short_id`), which keeps logs readable anyway.
"""

from __future__ import annotations

import collections
import logging
import logging.handlers
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

LOG_NAME = "potminer.log"
MAX_BYTES = 5 << 20
BACKUPS = 5
RING_CAPACITY = 2000
REDACTED = "[redacted]"
_HEX_SECRET = re.compile(r"(?<![0-9A-Fa-f])(?:0x)?[0-9A-Fa-f]{64}(?:[0-9A-Fa-f]{64})?(?![0-9A-Fa-f])")
_TOKEN = re.compile(r"\S+")
_MIN_PHRASE = 12
SHORT_SECRET = 6  # shorter secrets are redacted as whole words only


def short_id(hex_id: str, length: int = 16) -> str:
    """How ids appear in logs: short enough to read, never mistaken for a key by the redactor."""
    return hex_id[:length]


@lru_cache(maxsize=1)
def _bip39_words() -> frozenset[str]:
    from mnemonic import Mnemonic

    return frozenset(Mnemonic("english").wordlist)


class Redactor:
    """Removes secrets from text; thread-safe; `add_secret` for values known at run time."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._short: dict[str, re.Pattern[str]] = {}
        self._lock = threading.Lock()

    def add_secret(self, secret: str) -> None:
        """Redact `secret` from now on. Never raises: it runs on every password a client sends, wrong
        ones included. A secret shorter than SHORT_SECRET characters is redacted only where it stands
        alone (not inside a longer word), so that a short password does not blank ordinary words."""
        if not isinstance(secret, str) or not secret:
            return
        with self._lock:
            if len(secret) >= SHORT_SECRET:
                self._secrets.add(secret)
            elif secret not in self._short:
                self._short[secret] = re.compile(rf"(?<![\w]){re.escape(secret)}(?![\w])")

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
            short = list(self._short.values())
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in short:
            text = pattern.sub(REDACTED, text)
        text = _HEX_SECRET.sub(REDACTED, text)
        return _redact_phrases(text)


def _redact_phrases(text: str) -> str:
    """Replace runs of 12+ whitespace-separated BIP39 words (a seed phrase, whatever its length)."""
    words = _bip39_words()
    spans: list[tuple[int, int]] = []
    run: list[re.Match[str]] = []

    def close_run() -> None:
        if len(run) >= _MIN_PHRASE:
            spans.append((run[0].start(), run[-1].end()))
        run.clear()

    for m in _TOKEN.finditer(text):
        if m.group() in words:
            run.append(m)
        else:
            close_run()
    close_run()
    for start, end in reversed(spans):
        text = text[:start] + REDACTED + text[end:]
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and traceback through the redactor, once, before any formatting."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self._plain = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        record.msg = self.redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._plain.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        record._redacted = True
        return True


class OneLineFormatter(logging.Formatter):
    """`2025-01-31 12:00:00.123 WARNING app.net.sync: message` - newlines in messages are escaped;
    a traceback follows on lines starting with '  | ' so each record still begins on its own line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_text, record.stack_info
        record.exc_text, record.stack_info = None, None
        exc_info, record.exc_info = record.exc_info, None
        try:
            line = super().format(record).replace("\r", "\\r").replace("\n", "\\n")
        finally:
            record.exc_info = exc_info
            record.exc_text, record.stack_info = saved
        extra = record.exc_text or (self.formatException(record.exc_info) if record.exc_info else "")
        if record.stack_info:
            extra = f"{extra}\n{record.stack_info}" if extra else record.stack_info
        if extra:
            line += "".join(f"\n  | {tb_line}" for tb_line in extra.splitlines())
        return line


@dataclass(frozen=True)
class LogEntry:
    seq: int
    time: float
    level: str
    logger: str
    message: str

    def to_json(self) -> dict[str, object]:
        return {"seq": self.seq, "time": self.time, "level": self.level, "logger": self.logger, "message": self.message}


class LogRing(logging.Handler):
    """Keeps the last `capacity` records for the log viewer and tells listeners about each new one."""

    def __init__(self, capacity: int = RING_CAPACITY) -> None:
        super().__init__()
        self._entries: collections.deque[LogEntry] = collections.deque(maxlen=capacity)
        self._seq = 0
        self._listeners: list[Callable[[LogEntry], None]] = []
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_text:
            message += "\n" + record.exc_text
        with self.lock:  # type: ignore[union-attr]  # Handler.createLock made it
            self._seq += 1
            entry = LogEntry(self._seq, record.created, record.levelname, record.name, message)
            self._entries.append(entry)
            listeners = list(self._listeners)
        if getattr(self._busy, "on", False):
            return  # a listener logged while handling a line: do not feed that back to it
        self._busy.on = True
        try:
            for listener in listeners:
                try:
                    listener(entry)
                except Exception:  # a broken listener must not break logging
                    pass
        finally:
            self._busy.on = False

    def add_listener(self, listener: Callable[[LogEntry], None]) -> Callable[[], None]:
        """Call `listener` for every new entry (from the logging thread; keep it quick). Returns remover."""
        with self.lock:  # type: ignore[union-attr]
            self._listeners.append(listener)

        def remove() -> None:
            with self.lock:  # type: ignore[union-attr]
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def recent(self, limit: int = 200, min_level: str = "DEBUG", after_seq: int = 0) -> list[LogEntry]:
        """The newest `limit` entries at or above `min_level` with seq > `after_seq`, oldest first."""
        threshold = logging.getLevelName(min_level.upper())
        if not isinstance(threshold, int):
            raise ValueError(f"unknown log level {min_level!r}")
        with self.lock:  # type: ignore[union-attr]
            picked = [e for e in self._entries if e.seq > after_seq and logging.getLevelName(e.level) >= threshold]
        return picked[-limit:] if limit > 0 else []


@dataclass
class LoggingSetup:
    """What setup_logging installed; `close()` removes it (tests, and re-setup after a config change)."""

    redactor: Redactor
    ring: LogRing
    handlers: list[logging.Handler]
    logger: logging.Logger

    def close(self) -> None:
        for handler in self.handlers:
            self.logger.removeHandler(handler)
            handler.close()


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Log files are born 0600 (and an older one is made 0600): they hold addresses and activity."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if os.name == "posix":
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(
    log_dir: Path | None,
    level: str = "INFO",
    module_levels: dict[str, str] | None = None,
    console: bool = False,
    redactor: Redactor | None = None,
    ring_capacity: int = RING_CAPACITY,
    logger_name: str = "",
) -> LoggingSetup:
    """Install file (rotating), optional console and ring-buffer handlers on the root logger.

    `module_levels` sets per-module levels, e.g. {"app.net": "DEBUG", "libp2p": "WARNING"}.
    """
    root_level = _level(level)  # check every level before installing anything
    levels = {name: _level(lvl) for name, lvl in (module_levels or {}).items()}
    redactor = redactor or Redactor()
    ring = LogRing(ring_capacity)
    handlers: list[logging.Handler] = [ring]
    if log_dir is not None:
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handlers.append(
            PrivateRotatingFileHandler(log_dir / LOG_NAME, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        )
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    redacting = RedactingFilter(redactor)
    formatter = OneLineFormatter()
    root = logging.getLogger(logger_name)
    for handler in handlers:
        handler.addFilter(redacting)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(root_level)
    for name, module_level in levels.items():
        logging.getLogger(name).setLevel(module_level)
    return LoggingSetup(redactor, ring, handlers, root)


def _level(name: str) -> int:
    value = logging.getLevelName(name.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {name!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return value
