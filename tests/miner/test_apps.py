"""Exclusive-app matching across OS naming, and a process lister that fails."""

from __future__ import annotations

import psutil
import pytest

from app.miner.apps import ExclusiveApps, match_exclusive


@pytest.mark.parametrize(
    ("running", "configured", "expected"),
    [
        (["bash", "Blender.exe"], ["blender"], "blender"),
        (["blender"], ["Blender.exe"], "Blender.exe"),
        (["bash", "python3"], ["blender", "steam"], None),
        (["steam"], ["  "], None),
        (["steam"], [], None),
    ],
)
def test_match_exclusive(running: list[str], configured: list[str], expected: str | None) -> None:
    assert match_exclusive(running, configured) == expected


def test_unreadable_process_list_reads_as_none() -> None:
    def denied() -> list[str]:
        raise psutil.AccessDenied()

    assert ExclusiveApps(denied).running(["steam"]) is None


def test_real_process_list_finds_this_process() -> None:
    me = psutil.Process().name()
    assert ExclusiveApps().running(["not-a-real-app", me]) == me
