"""macOS HIDIdleTime parsing from ioreg output (IOKit itself only runs on a Mac)."""

from __future__ import annotations

import pytest

from app.miner.idle.macos import parse_ioreg, probe_iokit, probe_ioreg

# Shape of `ioreg -c IOHIDSystem -d 4 -k HIDIdleTime` on macOS 14 (values shortened to the keys used).
IOREG_NUMBER = b"""+-o Root  <class IORegistryEntry, id 0x100000100, retain 32>
  +-o J314sAP  <class IOPlatformExpertDevice, id 0x100000210, registered, matched, active, busy 0 (31589 ms), retain 44>
    +-o AppleARMPE  <class AppleARMPE, id 0x100000211, registered, matched, active, busy 0 (31519 ms), retain 18>
      +-o IOResources  <class IOResources, id 0x100000104, registered, matched, active, busy 0 (0 ms), retain 82>
        +-o IOHIDSystem  <class IOHIDSystem, id 0x1000007d5, registered, matched, active, busy 0 (0 ms), retain 25>
            {
              "HIDIdleTime" = 12534708000
            }
"""

# Older systems exposed the value as 8 bytes of little-endian data.
IOREG_DATA = b"""+-o IOHIDSystem  <class IOHIDSystem, id 0x100000214, registered, matched, active, busy 0 (0 ms), retain 23>
    {
      "HIDIdleTime" = <00ca9a3b00000000>
    }
"""


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (IOREG_NUMBER, 12.534708),
        (IOREG_DATA, 1.0),
        (b'+-o IOHIDSystem  <class IOHIDSystem>\n    {\n      "HIDKeyboardModifierMappingPairs" = ()\n    }\n', None),
        (b"", None),
    ],
)
def test_parse_ioreg(output: bytes, expected: float | None) -> None:
    assert parse_ioreg(output) == expected


def test_probes_decline_off_macos() -> None:
    assert probe_iokit() is None
    assert probe_ioreg() is None
