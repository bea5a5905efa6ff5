"""`potminer network validator | init | post-task`: an operator's genesis ceremony from the command line.

See docs/OPERATOR.md for the whole path from nothing to a running network, and app/node/ceremony.py for
what each file holds. Every handler prints one line per bad input and exits 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from app.core.types import GRAINS_PER_POT

POST_ATTEMPTS = 6
POST_SETTLE_S = 2.0  # a block interval or more, so a published task is in a block before the next check


def add_network_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="network_command", required=True)
    v = sub.add_parser("validator", help="make (or reuse) a validator's consensus key and write its public card")
    v.add_argument("--key", type=Path, required=True, help="the consensus key file (created 0600 if absent)")
    v.add_argument(
        "--datadir",
        type=Path,
        required=True,
        help="the node's data folder: its libp2p identity (p2p.key) is made there, apart from --key",
    )
    v.add_argument("--bond", type=int, required=True, help="bond in whole POT")
    v.add_argument(
        "--public-address",
        default=None,
        metavar="/ip4/HOST/tcp/PORT",
        help="where other nodes reach this one (makes it a bootstrap peer)",
    )
    v.add_argument("--card", type=Path, required=True, help="where to write the public card (JSON)")

    i = sub.add_parser("init", help="the genesis ceremony: cards and parameters in, the chain's files out")
    i.add_argument("--out", type=Path, required=True, help="new folder for genesis, bootstrap list, checkpoint, sums")
    i.add_argument(
        "--validator", type=Path, action="append", default=[], metavar="CARD", help="a validator card (repeat for each)"
    )
    i.add_argument("--base", default="testnet", help="network whose rules are the starting point (devnet, testnet)")
    i.add_argument("--chain-id", required=True, help="the new chain's id (never reuse one)")
    i.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="override one rule")
    i.add_argument("--allocation", action="append", default=[], metavar="ADDRESS_HEX:GRAINS")
    i.add_argument(
        "--bootstrap",
        action="append",
        default=[],
        metavar="MULTIADDR",
        help="a bootstrap peer that is not a validator (e.g. a full node)",
    )
    i.add_argument("--timestamp-ms", type=int, default=None, help="genesis time (default: now)")
    i.add_argument(
        "--first-task-key",
        type=Path,
        default=None,
        help="requester key file: sign the demo task as the first task (first-task.tx) and fund it",
    )
    i.add_argument("--first-task-rounds", type=int, default=20)
    i.add_argument("--first-task-fee", type=int, default=None, help="grains per round (default: the least admitted)")

    t = sub.add_parser("post-task", help="publish the ceremony's first task to the network")
    t.add_argument("--chain", type=Path, required=True, help="the folder `network init` wrote")
    t.add_argument("--datadir", type=Path, required=True, help="for this client's peer identity")


def run_network(args: argparse.Namespace) -> int:
    from app.node.ceremony import CeremonyError
    from app.node.chainfiles import ChainFilesError
    from app.node.keys import KeyFileError

    handler = {"validator": _validator, "init": _init, "post-task": _post_task}[args.network_command]
    try:
        return handler(args)
    except (CeremonyError, ChainFilesError, KeyFileError) as exc:
        print(f"potminer network {args.network_command}: {exc}", file=sys.stderr)
        return 2


def _validator(args: argparse.Namespace) -> int:
    from app.core.crypto import SigningKey
    from app.net.identity import load_or_create_identity, peer_id_of
    from app.node.ceremony import CeremonyError, ValidatorCard
    from app.node.cli import _listen
    from app.node.keys import load_key, save_key

    if args.bond <= 0:
        raise CeremonyError("--bond must be a positive number of POT")
    if args.key.exists():
        key = load_key(args.key)
    else:
        key = SigningKey.generate()
        save_key(args.key, key)
    identity = load_or_create_identity(args.datadir / "p2p.key")  # its own random key, never the consensus one
    peer = None
    if args.public_address is not None:
        try:
            host, port = _listen(args.public_address)
        except argparse.ArgumentTypeError as exc:
            raise CeremonyError(f"--public-address: {exc}") from None
        peer = f"/ip4/{host}/tcp/{port}/p2p/{peer_id_of(identity)}"
    card = ValidatorCard(key.public_key, args.bond * GRAINS_PER_POT, peer)
    args.card.write_text(card.to_json(), encoding="utf-8")
    print(
        f"consensus key {args.key} (public {key.public_key.hex()}); node identity {args.datadir / 'p2p.key'} "
        f"(peer {peer_id_of(identity)}); card {args.card}"
    )
    return 0


def _init(args: argparse.Namespace) -> int:
    from app.miner.demo import task_spec
    from app.node.ceremony import (
        CeremonyError,
        make_ceremony,
        parse_allocation,
        parse_card,
        parse_params,
        write_network,
    )
    from app.node.chainfiles import load_chain
    from app.node.keys import load_key

    cards = []
    for path in args.validator:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CeremonyError(f"cannot read validator card {path}: {exc.strerror}") from None
        cards.append(parse_card(text, str(path)))
    params = parse_params(args.base, [f"chain_id={args.chain_id}", *args.param])
    allocations = [parse_allocation(a) for a in args.allocation]
    first = None
    if args.first_task_key is not None:
        from app.core.admission import min_fee_per_round

        spec = task_spec(rounds=args.first_task_rounds)
        fee = (
            args.first_task_fee
            if args.first_task_fee is not None
            else max(1, min_fee_per_round(spec, params.min_fee_per_gflop))
        )
        first = (load_key(args.first_task_key), spec, fee)
    ceremony = make_ceremony(params, cards, allocations, args.bootstrap, args.timestamp_ms, first)
    written = write_network(args.out, ceremony)
    chain = load_chain(args.chain_id, root=args.out)  # read back exactly as a node would
    print(
        f"chain {args.chain_id}: genesis {chain.genesis.genesis_hash.hex()}, {len(cards)} validators, "
        f"{len(chain.bootstrap)} bootstrap peers"
    )
    for path in written:
        print(f"  {path}")
    return 0


def _post_task(args: argparse.Namespace) -> int:
    """Publish the first task, then prove by a light-client check that the requester paid its escrow."""
    from app.node import client
    from app.node.ceremony import FIRST_TASK_FILE, CeremonyError, load_first_task
    from app.node.chainfiles import load_chain
    from app.node.light import light_check

    chain = load_chain(args.chain.name, root=args.chain)
    post = load_first_task(args.chain / FIRST_TASK_FILE)
    if not chain.bootstrap:
        raise CeremonyError(f"{args.chain / 'bootstrap.json'} lists no peer to publish to")
    address = _address(post.sender)
    funded = {a.address: a.amount for a in chain.genesis.allocations}.get(address, 0)

    def paid() -> bool:
        return light_check(chain.genesis, address, chain.bootstrap, args.datadir / "light")["balance"] < funded

    for attempt in range(1, POST_ATTEMPTS + 1):
        if paid():
            print(f"task {post.tx_id.hex()} is in the chain (the requester's proven balance paid its escrow)")
            return 0
        # a fresh identity per attempt, as the devnet does: a re-dial under a half-closed connection's id waits long
        try:
            client.publish(
                chain.genesis.params.chain_id,
                chain.bootstrap,
                [post],
                args.datadir / f"p2p-{attempt}.key",
                mesh_timeout_s=20,
            )
        except Exception as exc:  # noqa: BLE001 - no mesh yet: say so and try again
            print(f"publishing failed ({exc!r}); trying again", file=sys.stderr)
        time.sleep(POST_SETTLE_S)
    raise CeremonyError(
        f"task {post.tx_id.hex()[:16]} did not reach the chain after {POST_ATTEMPTS} tries; "
        f"are the peers in {args.chain / 'bootstrap.json'} running?"
    )


def _address(public_key: bytes) -> bytes:
    from app.core.crypto import key_hash

    return key_hash(public_key)
