"""Newline framing with a size cap: bytes from a stream in, whole lines out.

Pure (no sockets) so that the server, the blocking client and tests share one implementation; the Qt
client gets the same behaviour from `QIODevice.canReadLine()` / `readLine()`.
"""

from __future__ import annotations


class FrameTooLarge(ValueError):
    """A line grew past the limit before its newline arrived."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"message larger than the limit of {limit} bytes")
        self.limit = limit


class LineSplitter:
    """Accumulates chunks and yields complete lines (without the newline); refuses oversized lines."""

    def __init__(self, max_line: int) -> None:
        if max_line < 1:
            raise ValueError("max_line must be positive")
        self._max = max_line
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add `chunk`; return every line it completed. Empty lines (keep-alives) are skipped."""
        self._buf += chunk
        lines: list[bytes] = []
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end < 0:
                break
            if end - start > self._max:
                raise FrameTooLarge(self._max)
            line = bytes(self._buf[start:end]).rstrip(b"\r")
            if line.strip():
                lines.append(line)
            start = end + 1
        del self._buf[:start]
        if len(self._buf) > self._max:
            raise FrameTooLarge(self._max)
        return lines

    @property
    def pending(self) -> int:
        """Bytes held that do not yet form a line."""
        return len(self._buf)
