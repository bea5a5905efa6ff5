"""Linux (and BSD desktop) idle time, probed in order of precision.

1. GNOME Mutter IdleMonitor (session bus): milliseconds, Wayland and X11 GNOME.
2. freedesktop ScreenSaver GetSessionIdleTime (session bus): milliseconds on KDE Plasma; GNOME answers
   with an error, which makes the probe fall through.
3. X11 XScreenSaver through libXss: milliseconds, X11 sessions only. Skipped when WAYLAND_DISPLAY is set:
   under XWayland it sees only input sent to X clients and would call a typing user idle.
4. systemd-logind IdleHint/IdleSinceHintMonotonic (system bus): coarse, set by the desktop after its own
   idle delay (or by logind from the tty for text sessions), so it is the last resort rather than the first.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from collections.abc import Mapping
from typing import Any

from jeepney import DBusAddress, Properties, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.wrappers import DBusErrorResponse, unwrap_msg

CALL_TIMEOUT_S = 1.0


class DBusCaller:
    """One lazily opened bus connection; a failed call drops it so the next call reconnects."""

    def __init__(self, bus: str) -> None:
        self._bus = bus
        self._conn: DBusConnection | None = None

    def call(self, message: Any) -> tuple[Any, ...]:
        """The reply body; raises OSError, TimeoutError or DBusErrorResponse on failure."""
        if self._conn is None:
            self._conn = open_dbus_connection(self._bus, auth_timeout=CALL_TIMEOUT_S)
        try:
            return tuple(unwrap_msg(self._conn.send_and_get_reply(message, timeout=CALL_TIMEOUT_S)))
        except (OSError, TimeoutError, ConnectionError):
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_DBUS_FAILURES = (OSError, TimeoutError, DBusErrorResponse, KeyError, ValueError)


class MutterIdleSource:
    """org.gnome.Mutter.IdleMonitor.GetIdletime on the session bus."""

    name = "GNOME Mutter IdleMonitor"
    address = DBusAddress(
        "/org/gnome/Mutter/IdleMonitor/Core",
        bus_name="org.gnome.Mutter.IdleMonitor",
        interface="org.gnome.Mutter.IdleMonitor",
    )

    def __init__(self, bus: str = "SESSION") -> None:
        self._caller = DBusCaller(bus)

    def idle_seconds(self) -> float | None:
        try:
            (milliseconds,) = self._caller.call(new_method_call(self.address, "GetIdletime"))
        except _DBUS_FAILURES:
            return None
        return int(milliseconds) / 1000.0


class ScreenSaverIdleSource:
    """org.freedesktop.ScreenSaver.GetSessionIdleTime (KDE Plasma answers in milliseconds)."""

    name = "freedesktop ScreenSaver"
    addresses = tuple(
        DBusAddress(path, bus_name="org.freedesktop.ScreenSaver", interface="org.freedesktop.ScreenSaver")
        for path in ("/org/freedesktop/ScreenSaver", "/ScreenSaver")
    )

    def __init__(self, bus: str = "SESSION") -> None:
        self._caller = DBusCaller(bus)

    def idle_seconds(self) -> float | None:
        for address in self.addresses:
            try:
                (milliseconds,) = self._caller.call(new_method_call(address, "GetSessionIdleTime"))
            except _DBUS_FAILURES:
                continue
            return int(milliseconds) / 1000.0
        return None


def logind_idle_seconds(idle_hint: bool, since_monotonic_us: int, now_monotonic_us: int) -> float | None:
    """Idle seconds from logind's hint: 0 while the session is active, None if "idle since" is unset."""
    if not idle_hint:
        return 0.0
    if since_monotonic_us <= 0:
        return None
    return max(0, now_monotonic_us - since_monotonic_us) / 1_000_000


class LogindIdleSource:
    """systemd-logind's IdleHint of this process's session, or of the user's display session."""

    name = "systemd-logind IdleHint"
    manager = DBusAddress(
        "/org/freedesktop/login1", bus_name="org.freedesktop.login1", interface="org.freedesktop.login1.Manager"
    )

    def __init__(self, bus: str = "SYSTEM") -> None:
        self._caller = DBusCaller(bus)
        self._session: DBusAddress | None = None

    def idle_seconds(self) -> float | None:
        try:
            session = self._session or self._find_session()
            hint = self._property(session, "IdleHint")
            since = self._property(session, "IdleSinceHintMonotonic")
        except _DBUS_FAILURES:
            self._session = None  # the session may have ended; look it up again next time
            return None
        self._session = session
        return logind_idle_seconds(bool(hint), int(since), time.monotonic_ns() // 1000)

    def _find_session(self) -> DBusAddress:
        try:
            (path,) = self._caller.call(new_method_call(self.manager, "GetSessionByPID", "u", (os.getpid(),)))
        except DBusErrorResponse:
            # Started outside a session (e.g. a systemd user service): use the user's display session.
            (user_path,) = self._caller.call(new_method_call(self.manager, "GetUser", "u", (os.getuid(),)))
            user = DBusAddress(user_path, bus_name="org.freedesktop.login1", interface="org.freedesktop.login1.User")
            _session_id, path = self._property(user, "Display")
            if path == "/":
                raise KeyError("the user has no display session")
        return DBusAddress(path, bus_name="org.freedesktop.login1", interface="org.freedesktop.login1.Session")

    def _property(self, address: DBusAddress, name: str) -> Any:
        ((_signature, value),) = self._caller.call(Properties(address).get(name))
        return value


class _XScreenSaverInfo(ctypes.Structure):
    _fields_ = [
        ("window", ctypes.c_ulong),
        ("state", ctypes.c_int),
        ("kind", ctypes.c_int),
        ("til_or_since", ctypes.c_ulong),
        ("idle", ctypes.c_ulong),
        ("eventMask", ctypes.c_ulong),
    ]


class XScreenSaverSource:
    """XScreenSaverQueryInfo on the default display's root window (X11 sessions)."""

    name = "X11 XScreenSaver"

    def __init__(self, xlib: ctypes.CDLL, xss: ctypes.CDLL, display_name: bytes) -> None:
        xlib.XOpenDisplay.restype, xlib.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        xlib.XDefaultRootWindow.restype, xlib.XDefaultRootWindow.argtypes = ctypes.c_ulong, [ctypes.c_void_p]
        xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        xlib.XFree.argtypes = [ctypes.c_void_p]
        xss.XScreenSaverQueryExtension.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        xss.XScreenSaverAllocInfo.restype = ctypes.POINTER(_XScreenSaverInfo)
        xss.XScreenSaverQueryInfo.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(_XScreenSaverInfo)]
        self._xlib, self._xss = xlib, xss
        self._display = xlib.XOpenDisplay(display_name)
        if not self._display:
            raise OSError(f"cannot open X display {display_name.decode(errors='replace')}")
        event_base, error_base = ctypes.c_int(), ctypes.c_int()
        if not xss.XScreenSaverQueryExtension(self._display, ctypes.byref(event_base), ctypes.byref(error_base)):
            self.close()
            raise OSError("the X server lacks the MIT-SCREEN-SAVER extension")
        self._root = xlib.XDefaultRootWindow(self._display)
        self._info = xss.XScreenSaverAllocInfo()

    def idle_seconds(self) -> float | None:
        if not self._display or not self._xss.XScreenSaverQueryInfo(self._display, self._root, self._info):
            return None
        return self._info.contents.idle / 1000.0

    def close(self) -> None:
        if getattr(self, "_info", None):
            self._xlib.XFree(self._info)
            self._info = None
        if self._display:
            self._xlib.XCloseDisplay(self._display)
            self._display = None


def session_bus_address(environ: Mapping[str, str] = os.environ) -> str | None:
    """The session bus: $DBUS_SESSION_BUS_ADDRESS, else systemd's $XDG_RUNTIME_DIR/bus if it exists."""
    if address := environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return address
    runtime_dir = environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.path.exists(os.path.join(runtime_dir, "bus")):
        return f"unix:path={os.path.join(runtime_dir, 'bus')}"
    return None


def probe_mutter() -> MutterIdleSource | None:
    address = session_bus_address()
    return MutterIdleSource(address) if address else None


def probe_screensaver() -> ScreenSaverIdleSource | None:
    address = session_bus_address()
    return ScreenSaverIdleSource(address) if address else None


def probe_x11() -> XScreenSaverSource | None:
    display = os.environ.get("DISPLAY")
    if not display or os.environ.get("WAYLAND_DISPLAY"):
        return None
    xlib_path, xss_path = ctypes.util.find_library("X11"), ctypes.util.find_library("Xss")
    if not xlib_path or not xss_path:
        return None
    return XScreenSaverSource(ctypes.CDLL(xlib_path), ctypes.CDLL(xss_path), display.encode())


def probe_logind() -> LogindIdleSource | None:
    return LogindIdleSource()


PROBES = [
    ("GNOME Mutter IdleMonitor", probe_mutter),
    ("freedesktop ScreenSaver", probe_screensaver),
    ("X11 XScreenSaver", probe_x11),
    ("systemd-logind IdleHint", probe_logind),
]
