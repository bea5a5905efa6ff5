"""Command-line handlers of the node package: `potminer node`, `potminer devnet`, `potminer light`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from app.core.bft import TimeoutConfig
from app.net.errors import NetError


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _listen(value: str) -> tuple[str, int]:
    """`/ip4/HOST/tcp/PORT` -> (HOST, PORT)."""
    parts = value.strip("/").split("/")
    if len(parts) != 4 or parts[0] != "ip4" or parts[2] != "tcp" or not parts[3].isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not /ip4/HOST/tcp/PORT")
    return parts[1], int(parts[3])


def _announce(value: str) -> str:
    from app.net.addrs import parse_announce

    try:
        return str(parse_announce(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be above 0")
    return number


def add_node_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--datadir", type=Path, required=True)
    p.add_argument("--genesis", type=Path, required=True, help="genesis JSON file")
    p.add_argument("--key", type=Path, required=True, help="file with the node's 32-byte hex seed")
    p.add_argument("--role", choices=("validator", "miner", "full"), default="full")
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 0), help="/ip4/HOST/tcp/PORT")
    p.add_argument("--bootstrap", nargs="*", default=[], help="multiaddrs ending in /p2p/<peer id>")
    p.add_argument(
        "--announce",
        type=_announce,
        action="append",
        default=[],
        help="/ip4/HOST/tcp/PORT peers should dial instead of --listen (a port mapping or forwarder); repeatable",
    )
    p.add_argument("--block-interval", type=float, default=1.0, help="seconds between blocks")
    p.add_argument("--round-wait", type=float, default=5.0, help="seconds a round waits for late miners")
    p.add_argument("--propose-timeout-ms", type=int, default=3000)
    p.add_argument("--log-level", default="info")
    p.add_argument(
        "--audit",
        choices=("on", "off"),
        default=None,
        help="re-execute random segments of vesting receipts in the background (default: on for validators)",
    )
    p.add_argument(
        "--audit-rate",
        type=_positive,
        default=None,
        metavar="SEGMENTS_PER_MINUTE",
        help="the auditor's limit on segments re-executed per minute",
    )


def run_node(args: argparse.Namespace) -> int:
    from app.core.errors import StorageError
    from app.node.node import Node, NodeConfig

    _setup_logging(args.log_level)
    host, port = args.listen
    config = NodeConfig(
        datadir=args.datadir,
        genesis_path=args.genesis,
        key_path=args.key,
        role=args.role,
        listen_host=host,
        listen_port=port,
        bootstrap=tuple(args.bootstrap),
        announce=tuple(args.announce),
        block_interval_s=args.block_interval,
        round_wait_s=args.round_wait,
        timeouts=TimeoutConfig(propose_ms=args.propose_timeout_ms),
        audit=None if args.audit is None else args.audit == "on",
        **({} if args.audit_rate is None else {"audit_segments_per_minute": args.audit_rate}),
    )
    try:
        node = Node(config)
    except StorageError as exc:  # a store or signing record that cannot be trusted: say why, do not start
        logging.getLogger("app.node").critical("%s", exc)
        print(f"potminer node: {exc}", file=sys.stderr)
        return 2
    try:
        node.run()
    except NetError as exc:  # the port is taken, say: the message says what to do
        logging.getLogger("app.node").critical("%s", exc)
        print(f"potminer node: {exc}", file=sys.stderr)
        return 2
    if node.fatal_error is not None:
        print(f"potminer node: {node.fatal_error}", file=sys.stderr)
        return 1
    return 0


def add_devnet_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--miners", type=int, default=2)
    p.add_argument("--datadir", type=Path, default=None, help="default: a temporary folder")
    p.add_argument("--rounds", type=int, default=10, help="rounds of the default task")
    p.add_argument("--local-steps", type=int, default=64, help="H of the default task (small on CPU)")
    p.add_argument("--checkpoint-interval", type=int, default=16)
    p.add_argument("--block-interval", type=float, default=1.0)
    p.add_argument("--no-task", action="store_true", help="do not post the default task")


def run_devnet(args: argparse.Namespace) -> int:
    from app.node.devnet import Devnet, DevnetConfig, check_devnet_size

    try:
        check_devnet_size(args.validators, args.miners)
    except ValueError as exc:
        print(f"potminer devnet: {exc}", file=sys.stderr)
        return 2
    _setup_logging("warning")
    config = DevnetConfig(
        validators=args.validators,
        miners=args.miners,
        datadir=args.datadir,
        rounds=args.rounds,
        local_steps=args.local_steps,
        checkpoint_interval=args.checkpoint_interval,
        block_interval_s=args.block_interval,
        post_task=not args.no_task,
        practice=True,
    )
    with Devnet(config) as net:
        print(f"devnet in {net.root}; Ctrl-C to stop", flush=True)
        net.watch(print)
    return 0


def add_light_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--genesis", type=Path, required=True)
    p.add_argument("--address", required=True, help="hex account id (20 bytes) to prove")
    p.add_argument("--bootstrap", nargs="+", required=True)
    p.add_argument("--datadir", type=Path, required=True, help="for the light client's peer identity")


def run_light(args: argparse.Namespace) -> int:
    from app.core.genesis import load_genesis
    from app.node.light import light_check

    _setup_logging("warning")
    report = light_check(load_genesis(args.genesis), bytes.fromhex(args.address), tuple(args.bootstrap), args.datadir)
    print(json.dumps(report, indent=1, sort_keys=True))
    return 0
