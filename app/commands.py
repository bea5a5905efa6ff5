"""Subcommand table of the CLI; each entry is (name, help, argument adder, handler)."""

from __future__ import annotations

import argparse
from typing import Callable

Handler = Callable[[argparse.Namespace], int]

COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Handler]] = []

from app.node import cli as _node_cli  # noqa: E402 - entries are appended per package

COMMANDS += [
    ("node", "run a chain node (validator, miner or full)", _node_cli.add_node_args, _node_cli.run_node),
    ("devnet", "start a local network of validators and miners on 127.0.0.1", _node_cli.add_devnet_args,
     _node_cli.run_devnet),
    ("light", "follow headers as a light client and prove an account's balance", _node_cli.add_light_args,
     _node_cli.run_light),
]
