"""macOS idle time: the IOHIDSystem registry entry's HIDIdleTime (nanoseconds since the last input).

Read through IOKit with ctypes first (no child process every second); if the frameworks cannot be
loaded, run ``ioreg`` and parse its text. HIDIdleTime is a CFNumber on current systems and was raw
8-byte data on old ones; both are handled.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import shutil
import subprocess
import sys

NANOSECONDS = 1_000_000_000
IOREG_COMMAND = ("ioreg", "-c", "IOHIDSystem", "-d", "4", "-k", "HIDIdleTime")
_NUMBER = re.compile(rb'"HIDIdleTime"\s*=\s*(\d+)')
_DATA = re.compile(rb'"HIDIdleTime"\s*=\s*<([0-9a-fA-F]{16})>')


def parse_ioreg(output: bytes) -> float | None:
    """Idle seconds from ``ioreg`` output, or None when it holds no HIDIdleTime."""
    if match := _NUMBER.search(output):
        return int(match.group(1)) / NANOSECONDS
    if match := _DATA.search(output):
        return int.from_bytes(bytes.fromhex(match.group(1).decode()), "little") / NANOSECONDS
    return None


class IoregSource:
    """Runs ``ioreg`` each reading: slower, but needs nothing beyond the base system."""

    name = "macOS ioreg HIDIdleTime"

    def __init__(self, executable: str) -> None:
        self._command = (executable, *IOREG_COMMAND[1:])

    def idle_seconds(self) -> float | None:
        try:
            done = subprocess.run(self._command, capture_output=True, timeout=2, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return parse_ioreg(done.stdout) if done.returncode == 0 else None


_K_CF_STRING_ENCODING_UTF8 = 0x08000100
_K_CF_NUMBER_SINT64 = 4
_K_IO_MAIN_PORT_DEFAULT = 0


class IOKitSource:
    """IOKit's IORegistryEntryCreateCFProperty on the IOHIDSystem service, through ctypes."""

    name = "macOS IOKit HIDIdleTime"

    def __init__(self, iokit: ctypes.CDLL, cf: ctypes.CDLL) -> None:
        self._iokit, self._cf = iokit, cf
        _declare(iokit, cf)
        matching = iokit.IOServiceMatching(b"IOHIDSystem")
        self._service = iokit.IOServiceGetMatchingService(_K_IO_MAIN_PORT_DEFAULT, matching)
        if not self._service:
            raise OSError("no IOHIDSystem service in the I/O registry")
        self._key = cf.CFStringCreateWithCString(None, b"HIDIdleTime", _K_CF_STRING_ENCODING_UTF8)

    def idle_seconds(self) -> float | None:
        prop = self._iokit.IORegistryEntryCreateCFProperty(self._service, self._key, None, 0)
        if not prop:
            return None
        try:
            nanoseconds = self._nanoseconds(prop)
        finally:
            self._cf.CFRelease(prop)
        return None if nanoseconds is None else nanoseconds / NANOSECONDS

    def _nanoseconds(self, prop: int) -> int | None:
        cf = self._cf
        kind = cf.CFGetTypeID(prop)
        if kind == cf.CFNumberGetTypeID():
            value = ctypes.c_int64()
            if cf.CFNumberGetValue(prop, _K_CF_NUMBER_SINT64, ctypes.byref(value)):
                return value.value
            return None
        if kind == cf.CFDataGetTypeID() and cf.CFDataGetLength(prop) == 8:
            return int.from_bytes(ctypes.string_at(cf.CFDataGetBytePtr(prop), 8), sys.byteorder)
        return None

    def close(self) -> None:
        self._cf.CFRelease(self._key)
        self._iokit.IOObjectRelease(self._service)


def _declare(iokit: ctypes.CDLL, cf: ctypes.CDLL) -> None:
    """C signatures; without them ctypes truncates pointers to int on 64-bit."""
    vp, u32 = ctypes.c_void_p, ctypes.c_uint32
    iokit.IOServiceMatching.restype, iokit.IOServiceMatching.argtypes = vp, [ctypes.c_char_p]
    iokit.IOServiceGetMatchingService.restype = u32
    iokit.IOServiceGetMatchingService.argtypes = [u32, vp]
    iokit.IORegistryEntryCreateCFProperty.restype = vp
    iokit.IORegistryEntryCreateCFProperty.argtypes = [u32, vp, vp, u32]
    iokit.IOObjectRelease.argtypes = [u32]
    cf.CFStringCreateWithCString.restype = vp
    cf.CFStringCreateWithCString.argtypes = [vp, ctypes.c_char_p, u32]
    cf.CFGetTypeID.restype, cf.CFGetTypeID.argtypes = ctypes.c_ulong, [vp]
    cf.CFNumberGetTypeID.restype = ctypes.c_ulong
    cf.CFDataGetTypeID.restype = ctypes.c_ulong
    cf.CFNumberGetValue.restype = ctypes.c_bool
    cf.CFNumberGetValue.argtypes = [vp, ctypes.c_int, vp]
    cf.CFDataGetLength.restype, cf.CFDataGetLength.argtypes = ctypes.c_long, [vp]
    cf.CFDataGetBytePtr.restype, cf.CFDataGetBytePtr.argtypes = vp, [vp]
    cf.CFRelease.argtypes = [vp]


def probe_iokit() -> IOKitSource | None:
    if sys.platform != "darwin":
        return None
    iokit_path = ctypes.util.find_library("IOKit")
    cf_path = ctypes.util.find_library("CoreFoundation")
    if not iokit_path or not cf_path:
        return None
    return IOKitSource(ctypes.CDLL(iokit_path), ctypes.CDLL(cf_path))


def probe_ioreg() -> IoregSource | None:
    if sys.platform != "darwin":
        return None
    executable = shutil.which("ioreg")
    return IoregSource(executable) if executable else None


PROBES = [("macOS IOKit HIDIdleTime", probe_iokit), ("macOS ioreg HIDIdleTime", probe_ioreg)]
