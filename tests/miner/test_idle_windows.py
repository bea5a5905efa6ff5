"""Windows GetLastInputInfo arithmetic (the ctypes call itself only runs on Windows)."""

from __future__ import annotations

import pytest

from app.miner.idle.windows import elapsed_ms, probe_last_input


@pytest.mark.parametrize(
    ("now", "last", "expected"),
    [
        (5_000, 2_000, 3_000),
        (2_000, 2_000, 0),
        (500, 2**32 - 1_500, 2_000),  # GetTickCount wrapped after 49.7 days
    ],
)
def test_elapsed_ms_handles_the_tick_wrap(now: int, last: int, expected: int) -> None:
    assert elapsed_ms(now, last) == expected


def test_probe_declines_off_windows() -> None:
    assert probe_last_input() is None
