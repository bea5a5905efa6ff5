"""Linux idle sources: clean None without a desktop, logind arithmetic, and D-Bus calls on a private bus."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from jeepney import MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from app.miner.idle import first_available
from app.miner.idle.linux import (
    PROBES,
    LogindIdleSource,
    MutterIdleSource,
    ScreenSaverIdleSource,
    logind_idle_seconds,
    probe_mutter,
    probe_x11,
    session_bus_address,
)


@pytest.mark.parametrize(
    ("hint", "since", "now", "expected"),
    [
        (False, 5_000_000, 9_000_000, 0.0),  # active session
        (True, 5_000_000, 9_000_000, 4.0),
        (True, 0, 9_000_000, None),  # idle, but since when is unknown
        (True, 9_500_000, 9_000_000, 0.0),  # clock skew never gives negative idle
    ],
)
def test_logind_idle_seconds(hint: bool, since: int, now: int, expected: float | None) -> None:
    assert logind_idle_seconds(hint, since, now) == expected


def test_session_bus_address(tmp_path: Path) -> None:
    assert session_bus_address({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"}) == "unix:path=/x"
    assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    (tmp_path / "bus").touch()
    assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) == f"unix:path={tmp_path}/bus"
    assert session_bus_address({}) is None


def test_sources_answer_none_without_a_bus() -> None:
    missing = "unix:path=/nonexistent/bus"
    assert MutterIdleSource(missing).idle_seconds() is None
    assert ScreenSaverIdleSource(missing).idle_seconds() is None
    assert LogindIdleSource(missing).idle_seconds() is None


def test_probes_decline_without_a_desktop(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert probe_mutter() is None
    assert probe_x11() is None
    monkeypatch.setenv("DISPLAY", ":9")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert probe_x11() is None  # XWayland would miss native Wayland input


def test_x11_probe_with_no_server_fails_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":97")  # nothing listens there
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    chosen = first_available([label_probe for label_probe in PROBES if label_probe[0] == "X11 XScreenSaver"])
    assert chosen.name == "none"


class FakeDesktop:
    """Answers Mutter's GetIdletime and refuses ScreenSaver's GetSessionIdleTime, as GNOME does."""

    def __init__(self, address: str, idle_ms: int) -> None:
        self.idle_ms = idle_ms
        self.conn = open_dbus_connection(address)
        self.conn.send_and_get_reply(message_bus.RequestName("org.gnome.Mutter.IdleMonitor"))
        self.conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.ScreenSaver"))
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped:
            try:
                msg = self.conn.receive(timeout=0.2)
            except TimeoutError:
                continue
            except OSError:
                return
            if msg.header.message_type != MessageType.method_call:
                continue
            if msg.header.fields.get(3) == "GetIdletime":  # 3 = member
                self.conn.send(new_method_return(msg, "t", (self.idle_ms,)))
            else:
                self.conn.send(new_error(msg, "org.freedesktop.DBus.Error.NotSupported", "s", ("no",)))


@pytest.fixture
def bus_daemon(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    if not shutil.which("dbus-daemon"):
        pytest.skip("dbus-daemon is not installed")
    address = f"unix:path={tmp_path}/bus"
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1", f"--address={address}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert daemon.stdout is not None
    daemon.stdout.readline()  # printed once the bus listens
    try:
        yield address, daemon
    finally:
        daemon.kill()
        daemon.wait()


@pytest.fixture
def private_bus(bus_daemon: tuple[str, subprocess.Popen[bytes]]) -> str:
    return bus_daemon[0]


def test_mutter_and_screensaver_over_a_real_bus(private_bus: str) -> None:
    desktop = FakeDesktop(private_bus, idle_ms=83_250)
    try:
        mutter = MutterIdleSource(private_bus)
        assert mutter.idle_seconds() == 83.25
        desktop.idle_ms = 10
        assert mutter.idle_seconds() == 0.01
        assert ScreenSaverIdleSource(private_bus).idle_seconds() is None  # GNOME's refusal falls through
        chosen = first_available(
            [("screensaver", lambda: ScreenSaverIdleSource(private_bus)), ("mutter", lambda: mutter)]
        )
        assert chosen is mutter
    finally:
        desktop.stopped = True
        desktop.thread.join()
        desktop.conn.close()


def test_source_survives_the_bus_going_away(bus_daemon: tuple[str, subprocess.Popen[bytes]]) -> None:
    address, daemon = bus_daemon
    source = MutterIdleSource(address)
    assert source.idle_seconds() is None  # nobody owns the name: an error reply, not an exception
    daemon.kill()
    daemon.wait()
    assert source.idle_seconds() is None  # the dropped connection is a None, then a reconnect attempt
    assert source.idle_seconds() is None
