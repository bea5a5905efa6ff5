"""Subcommand table of the CLI; each entry is (name, help, argument adder, handler)."""

from __future__ import annotations

import argparse
from typing import Callable

Handler = Callable[[argparse.Namespace], int]

COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Handler]] = []
