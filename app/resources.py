"""Where the shipped resources/ folder is, from a source checkout and from a frozen bundle.

From source, resources/ sits beside the app/ package (the repository root). In a PyInstaller bundle
(packaging/pyinstaller/potminer.spec) it is copied to `<bundle>/_internal/resources`, which is
`sys._MEIPASS`; the spec puts it there so that code still using `Path(__file__).parents[2] / "resources"`
finds it too (a frozen module's __file__ lies under sys._MEIPASS). New code should call resource_path().
"""

from __future__ import annotations

import sys
from pathlib import Path


def is_frozen() -> bool:
    """True inside a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def resources_root() -> Path:
    """The resources/ folder itself."""
    if is_frozen():
        return Path(sys._MEIPASS) / "resources"  # type: ignore[attr-defined]
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """A path under resources/, e.g. resource_path("icons", "potminer.svg"). Existence is not checked."""
    return resources_root().joinpath(*parts)


def cli_command() -> list[str]:
    """argv prefix that runs the `potminer` CLI/daemon: the sibling console executable when frozen
    (so the windowed GUI can start the daemon), else this interpreter with `-m app`."""
    if is_frozen():
        exe = "potminer.exe" if sys.platform == "win32" else "potminer"
        return [str(Path(sys.executable).resolve().parent / exe)]
    return [sys.executable, "-m", "app"]
