"""The `potminer` command line and the launcher: one entry point, one subcommand per job.

The front door of the app, in one package: `commands` is the subcommand table; `daemon` runs and stops the
daemon; `client` (status, mine, task, peers, logs) and `wallet` are clients of its RPC, with `common`'s
helpers; `launcher` is `potminer run` (local devnet, daemon, window). The node's own subcommands (`node`,
`devnet`, `light`, `network`) stay beside the code they drive (app/node/cli.py, app/node/cli_network.py),
and `gui`'s arguments beside the window (app/ui/cli_args.py). Importing this package stays light: no Qt,
torch or network until a subcommand runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from app import __version__

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="potminer",
        description="PoT Miner: train machine-learning models for a proof-of-training blockchain and earn for it.",
    )
    parser.add_argument("--version", action="version", version=f"potminer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text, add_args, handler in _commands():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(handler=handler)
    return parser


def _commands() -> list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Handler]]:
    from app.cli import commands

    return commands.COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
