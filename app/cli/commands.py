"""Subcommand table of the CLI; each entry is (name, help, argument adder, handler)."""

from __future__ import annotations

import argparse
from typing import Callable

Handler = Callable[[argparse.Namespace], int]

COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Handler]] = []

from app.node import cli as _node_cli  # noqa: E402 - entries are appended per package

COMMANDS += [
    ("node", "run a chain node (validator, miner or full)", _node_cli.add_node_args, _node_cli.run_node),
    (
        "devnet",
        "start a local network of validators and miners on 127.0.0.1",
        _node_cli.add_devnet_args,
        _node_cli.run_devnet,
    ),
    (
        "light",
        "follow headers as a light client and prove an account's balance",
        _node_cli.add_light_args,
        _node_cli.run_light,
    ),
]

from app.node import cli_network as _network_cli  # noqa: E402

COMMANDS += [
    (
        "network",
        "an operator's genesis ceremony: validator cards, the chain's files, the first task",
        _network_cli.add_network_args,
        _network_cli.run_network,
    ),
]

from app.cli import client as _client, daemon as _daemon, wallet as _wallet  # noqa: E402

COMMANDS += [
    (
        "daemon",
        "run the background node, wallet and miner that the window and these commands talk to",
        _daemon.add_daemon_args,
        _daemon.run_daemon,
    ),
    ("stop", "stop the running daemon (the round in training is saved)", _daemon.add_stop_args, _daemon.run_stop),
    (
        "restart",
        "restart the running daemon so changed network settings take effect (the round is saved)",
        _daemon.add_restart_args,
        _daemon.run_restart,
    ),
    (
        "status",
        "what the daemon is doing: mining state and why, chain height, wallet",
        _client.add_status_args,
        _client.run_status,
    ),
    ("mine", "start, stop, pause or resume mining, or show its state", _client.add_mine_args, _client.run_mine),
    (
        "wallet",
        "create, restore, unlock, send from, sweep rewards of, export or import the wallet",
        _wallet.add_wallet_args,
        _wallet.run_wallet,
    ),
    ("task", "post a training task with a fee (requester), or show tasks", _client.add_task_args, _client.run_task),
    ("peers", "the node's peers and their scores", _client.add_peers_args, _client.run_peers),
    ("logs", "recent daemon log lines (-f to follow)", _client.add_logs_args, _client.run_logs),
]


from app.ui.cli_args import add_gui_args as _add_gui_args  # noqa: E402 - no Qt until the window is asked for


def _run_gui(args: argparse.Namespace) -> int:
    from app.ui.main import run

    return run(args)


COMMANDS += [
    ("gui", "open the PoT Miner window (starts the daemon if none runs)", _add_gui_args, _run_gui),
]

from app.cli import launcher as _launcher  # noqa: E402 - light: heavy parts load when it runs

COMMANDS.insert(
    0,
    (
        "run",
        "start PoT Miner on its own local devnet: the network, the daemon and the window",
        _launcher.add_arguments,
        _launcher.run,
    ),
)
