"""The idle interface, the probing factory, and the fake source the other tests drive."""

from __future__ import annotations

import pytest

from app.miner.idle import IdleSource, NoIdleSource, detect_idle_source, first_available, platform_probes
from app.miner.idle.fake import FakeIdleSource


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Fixed:
    def __init__(self, name: str, value: float | None) -> None:
        self.name, self.value = name, value

    def idle_seconds(self) -> float | None:
        return self.value


def broken() -> IdleSource | None:
    raise OSError("libXss.so.1: cannot open shared object file")


def test_factory_keeps_the_first_source_that_answers() -> None:
    chosen = first_available(
        [
            ("raises", broken),
            ("absent", lambda: None),
            ("silent", lambda: Fixed("silent", None)),
            ("good", lambda: Fixed("good", 3.0)),
            ("later", lambda: Fixed("later", 9.0)),
        ]
    )
    assert chosen.name == "good"


def test_factory_falls_back_to_no_idle_source_naming_what_it_tried() -> None:
    chosen = first_available([("raises", broken), ("absent", lambda: None)])
    assert isinstance(chosen, NoIdleSource)
    assert chosen.idle_seconds() is None
    assert chosen.tried == ("raises", "absent")


def test_unknown_platform_has_no_probes() -> None:
    assert platform_probes("sunos5") == []
    assert isinstance(detect_idle_source("sunos5"), NoIdleSource)


def test_this_headless_linux_box_gets_the_fallback_without_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/system_bus_socket")
    chosen = detect_idle_source("linux")
    assert isinstance(chosen, NoIdleSource)
    assert "systemd-logind IdleHint" in chosen.tried and "X11 XScreenSaver" in chosen.tried


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_foreign_platform_probes_decline_here(platform: str) -> None:
    # The Windows and macOS probes check the running OS before touching its libraries.
    assert isinstance(detect_idle_source(platform), NoIdleSource)


def test_fake_source_follows_scripted_input() -> None:
    clock = Clock()
    idle = FakeIdleSource(clock)
    assert idle.idle_seconds() == 0.0
    clock.t += 90
    assert idle.idle_seconds() == 90.0
    idle.input_at(1100.0, 1200.0)
    clock.t = 1150.0
    assert idle.idle_seconds() == 50.0
    clock.t = 1200.5
    assert idle.idle_seconds() == 0.5
    idle.set_idle(600)
    assert idle.idle_seconds() == 600
    idle.touch()
    assert idle.idle_seconds() == 0.0
    idle.available = False
    assert idle.idle_seconds() is None
