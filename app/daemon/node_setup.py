"""Building the embedded node from the daemon's config: genesis, identity key, listen address, peers.

The node's own files (chain database, blobs, p2p identity, status) live in `<datadir>/node`. Its
signing key there is a node identity only (a full node signs nothing on chain); mining signs with the
wallet's reward key, handed over when the wallet unlocks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import config as cfg
from app.core.crypto import SigningKey
from app.core.genesis import CHAINS_DIR
from app.node.keys import save_key
from app.node.node import Node, NodeConfig

if TYPE_CHECKING:
    from app.node.light_node import LightNode

log = logging.getLogger(__name__)


class NodeSetupError(cfg.ConfigError):
    """The node cannot start with this config; the message says what to give it (a one-line CLI error)."""


def genesis_path(config: cfg.Config, given: Path | None) -> Path:
    if given is not None:
        if not given.is_file():
            raise NodeSetupError(f"no genesis file at {given}")
        return given
    if config.network.genesis_file:
        configured = Path(config.network.genesis_file).expanduser()
        if not configured.is_file():
            raise NodeSetupError(f"network.genesis_file names {configured}, which does not exist")
        return configured
    path = CHAINS_DIR / config.network.chain.value / "genesis.json"
    if not path.is_file():
        raise NodeSetupError(
            f"the {config.network.chain.value} chain has no shipped genesis; pass --genesis FILE "
            "(a devnet writes one into its folder)"
        )
    return path


def bootstrap_peers(config: cfg.Config, options: Any, genesis: Path) -> tuple[str, ...]:
    """Peers to dial: the config's and the command line's, a newer list given by `--bootstrap-file`, and,
    when none of these names any and the chain is a shipped one, the list shipped with its files (whose
    checksums and checkpoint are checked here, so a damaged install says so before it starts)."""
    from app.core.genesis import InvalidGenesis, load_genesis
    from app.node.chainfiles import ChainFilesError, OtherChainFile, load_bootstrap, load_chain

    peers = [*config.network.bootstrap_peers, *options.bootstrap]
    try:
        chain_id = load_genesis(genesis).params.chain_id
        bootstrap_file = getattr(options, "bootstrap_file", None)
        if bootstrap_file is not None:
            try:
                peers += load_bootstrap(Path(bootstrap_file).expanduser(), chain_id)
            except OtherChainFile as exc:  # given for the network the volunteer has since left (a restart)
                log.warning("ignoring --bootstrap-file: %s", exc)
        shipped = CHAINS_DIR / config.network.chain.value
        if config.network.chain == cfg.Chain.TESTNET and genesis.resolve() == (shipped / "genesis.json").resolve():
            files = load_chain(config.network.chain.value)
            if not peers:
                peers += files.bootstrap
    except (ChainFilesError, InvalidGenesis) as exc:
        raise NodeSetupError(str(exc)) from None
    return tuple(dict.fromkeys(peers))


def parse_listen(text: str) -> tuple[str, int]:
    """`/ip4/HOST/tcp/PORT` -> (HOST, PORT)."""
    parts = text.strip("/").split("/")
    if len(parts) != 4 or parts[0] != "ip4" or parts[2] != "tcp" or not parts[3].isdigit():
        raise NodeSetupError(f"listen address {text!r} must look like /ip4/127.0.0.1/tcp/PORT")
    return parts[1], int(parts[3])


def build_node(config: cfg.Config, node_dir: Path, options: Any) -> Node:
    """A full node in `node_dir` for the config's chain."""
    node_dir.mkdir(parents=True, exist_ok=True)
    key_path = node_dir / "node.key"
    if not key_path.exists():
        save_key(key_path, SigningKey.generate())
    host, port = parse_listen(options.listen or (config.network.listen or ["/ip4/127.0.0.1/tcp/0"])[0])
    genesis = genesis_path(config, options.genesis)
    bootstrap = bootstrap_peers(config, options, genesis)
    return Node(
        NodeConfig(
            datadir=node_dir,
            genesis_path=genesis,
            key_path=key_path,
            role="full",
            listen_host=host,
            listen_port=port,
            bootstrap=bootstrap,
            block_interval_s=options.block_interval_s,
        )
    )


def build_light_node(config: cfg.Config, light_dir: Path, options: Any) -> LightNode:
    """A light node in `light_dir`: the chain's genesis, its bootstrap peers and, for a shipped chain,
    its trusted checkpoint (header sync starts there instead of at genesis)."""
    from app.node.chainfiles import ChainFilesError, load_chain
    from app.node.light_node import LightConfig, LightNode

    host, port = parse_listen(options.listen or (config.network.listen or ["/ip4/127.0.0.1/tcp/0"])[0])
    genesis = genesis_path(config, options.genesis)
    checkpoint = None
    shipped = CHAINS_DIR / config.network.chain.value
    if (shipped / "checkpoint.json").is_file() and genesis.resolve() == (shipped / "genesis.json").resolve():
        try:
            checkpoint = load_chain(config.network.chain.value).checkpoint
        except ChainFilesError as exc:
            raise NodeSetupError(str(exc)) from None
    return LightNode(
        LightConfig(
            datadir=light_dir,
            genesis_path=genesis,
            bootstrap=bootstrap_peers(config, options, genesis),
            listen_host=host,
            listen_port=port,
            checkpoint=checkpoint,
        )
    )
