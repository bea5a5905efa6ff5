"""The `potminer gui` arguments, in a module without Qt so the CLI can list them without loading Qt."""

from __future__ import annotations

import argparse
from pathlib import Path

THEMES = ("system", "light", "dark")


def add_gui_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--datadir", type=Path, default=None, help="data folder (default: the platform's)")
    parser.add_argument("--no-launch", action="store_true", help="only attach to a running daemon; never start one")
    parser.add_argument("--theme", choices=THEMES, default=None, help="override the theme setting")
    parser.add_argument("--hidden", action="store_true", help="start in the tray (used when starting at login)")
