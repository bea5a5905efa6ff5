"""Start at login, per OS: Windows Run key, macOS LaunchAgent, XDG autostart (.desktop) on Linux/BSD.

Pure writers: each builds the entry's content from the command to run (tested as text), and
`enable`/`disable` put it where the OS looks, atomically. The command is the GUI when installed (it
attaches to or launches the daemon), or `potminer daemon` on a headless machine.
"""

from __future__ import annotations

import plistlib
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from app.fsutil import write_atomic

LABEL = "org.potminer.daemon"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "PoT Miner"
DESKTOP_NAME = "potminer.desktop"
PLIST_NAME = f"{LABEL}.plist"


def default_command(gui: bool = False) -> list[str]:
    """This interpreter running the app: `python -m app gui|daemon`."""
    return [sys.executable, "-m", "app", "gui" if gui else "daemon"]


def desktop_entry(command: Sequence[str]) -> str:
    """An XDG autostart entry (freedesktop Desktop Entry spec; Exec quoted as the spec says)."""
    exec_line = " ".join(_xdg_quote(arg) for arg in command)
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Name=PoT Miner",
            "Comment=Train models for the PoT network when idle",
            f"Exec={exec_line}",
            "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
            "NoDisplay=true",
            "",
        ]
    )


def _xdg_quote(arg: str) -> str:
    if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`%="):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped.replace("%", "%%")}"'


def launch_agent(command: Sequence[str], log_dir: Path) -> bytes:
    """A per-user LaunchAgent plist: run at load (login), not kept alive (the user may quit it)."""
    return plistlib.dumps(
        {
            "Label": LABEL,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            "KeepAlive": False,
            "ProcessType": "Background",
            "StandardOutPath": str(log_dir / "launchd.out.log"),
            "StandardErrorPath": str(log_dir / "launchd.err.log"),
        }
    )


def windows_run_value(command: Sequence[str]) -> str:
    """The Run key's value: a command line quoted the Windows way."""
    import subprocess

    return subprocess.list2cmdline(list(command))


def login_command(datadir: Path | None, frozen: bool = bool(getattr(sys, "frozen", False))) -> list[str]:
    """What runs at login: the window, hidden in the tray (it attaches to or starts the daemon), with the data
    folder when it is not the platform's default; a bundled install runs its own executable."""
    command = [sys.executable] if frozen else default_command(gui=True)
    command.append("--hidden")
    if datadir is not None:
        command += ["--datadir", str(datadir)]
    return command


def apply(
    enabled: bool, command: Sequence[str], log_dir: Path, platform: str = sys.platform, home: Path | None = None
) -> str:
    """Make the OS's start-at-login entry match the setting; returns a line for the log."""
    if enabled:
        return f"PoT Miner starts at login ({enable(command, log_dir, platform, home)})"
    removed = disable(platform, home)
    return "PoT Miner no longer starts at login" + ("" if removed else " (no entry was there)")


def entry_path(platform: str = sys.platform, home: Path | None = None) -> Path | None:
    """Where the entry file lives (None on Windows: the registry)."""
    home = home or Path.home()
    if platform == "win32":
        return None
    if platform == "darwin":
        return home / "Library" / "LaunchAgents" / PLIST_NAME
    import os

    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return config / "autostart" / DESKTOP_NAME


def enable(command: Sequence[str], log_dir: Path, platform: str = sys.platform, home: Path | None = None) -> str:
    """Install the entry; returns where (a path, or the registry key)."""
    path = entry_path(platform, home)
    if path is None:
        import winreg  # type: ignore[import-not-found]

        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, windows_run_value(command))
        return f"HKCU\\{RUN_KEY}\\{RUN_VALUE}"
    content = launch_agent(command, log_dir) if platform == "darwin" else desktop_entry(command).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, content, mode=0o644)
    return str(path)


def disable(platform: str = sys.platform, home: Path | None = None) -> bool:
    """Remove the entry; False when there was none."""
    path = entry_path(platform, home)
    if path is None:
        import winreg  # type: ignore[import-not-found]

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, RUN_VALUE)
            return True
        except FileNotFoundError:
            return False
    if not path.exists():
        return False
    path.unlink()
    return True


def is_enabled(platform: str = sys.platform, home: Path | None = None) -> bool:
    path = entry_path(platform, home)
    if path is None:
        import winreg  # type: ignore[import-not-found]

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                winreg.QueryValueEx(key, RUN_VALUE)
            return True
        except FileNotFoundError:
            return False
    return path.exists()


def shell_line(command: Sequence[str]) -> str:
    """The command as a POSIX shell line (for messages)."""
    return shlex.join(command)
