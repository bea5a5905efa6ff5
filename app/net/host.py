"""The node's libp2p host: identity, TCP + Noise + Yamux, GossipSub topics, request protocols, bans.

`NetHost.open(config)` is a trio async context manager; everything the node needs goes through the
returned object: publish and subscribe on the chain's topics, per-topic semantic validators,
request providers, `call_*` stubs, blob fetching, and the peer table. Bans are enforced at every
door: a banned peer's connection is closed as soon as it is made, its streams are reset, and
GossipSub drops whatever it forwards or originates until the ban ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.pubsub import gossipsub as gs
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID, Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID, Yamux
from libp2p.tools.anyio_service import background_trio_service

from app.core.encoding import Record
from app.core.errors import PotError
from app.core.types import Block, SignedHeader
from app.net import addrs, limits
from app.net.discovery import Dialer, Target
from app.net.errors import ListenError, PeerBanned, RequestFailed
from app.net.fetch import BlobFetcher
from app.net.identity import load_or_create_identity
from app.net.messages import HistoryResponse, RangeQuery, Request, StateEntriesResponse
from app.net.peers import Backoff, Offence, PeerInfoView, PeerTable, ScorePolicy
from app.net.protocols import ChainClient, ChainServicer, ProtocolIds, Providers, protocol_id
from app.net.reqresp import Handler, RequestClient, RequestServer, Resp
from app.net.topics import TopicKind, check_chain_id, kind_for_record, topic_name
from app.net.validators import GossipValidator, SemanticValidator, Verdict

log = logging.getLogger(__name__)

GOSSIP_PROTOCOLS = [gs.PROTOCOL_ID_V11, gs.PROTOCOL_ID]
MAINTENANCE_INTERVAL_S = 0.5
PRUNE_EVERY = 20  # maintenance rounds between peer-table prunes (10 s)


@dataclass(frozen=True)
class NetConfig:
    """How to run one host. `bootstrap` entries are full multiaddrs ending in `/p2p/<peer id>`."""

    chain_id: str
    key_path: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    bootstrap: tuple[str, ...] = ()
    topics: tuple[TopicKind, ...] = tuple(TopicKind)
    score_policy: ScorePolicy = field(default_factory=ScorePolicy)
    request_timeout_s: float = limits.REQUEST_TIMEOUT_S
    gossip_degree: int = 6
    heartbeat_s: float = 1.0
    discovery_interval_s: float = limits.DISCOVERY_INTERVAL_S
    announce: tuple[str, ...] = ()  # /ip4/HOST/tcp/PORT advertised instead of the listen address (a forwarder's)
    max_pending_wait_s: float = limits.MAX_PENDING_WAIT_S  # how long a blob answered "pending" is asked for

    def __post_init__(self) -> None:
        check_chain_id(self.chain_id)
        for addr in self.announce:
            addrs.parse_announce(addr)
        if not 0 <= self.listen_port <= 65535:
            raise ValueError(f"listen port {self.listen_port} out of range")
        for addr in self.bootstrap:
            parse_peer_addr(addr)


@dataclass(frozen=True)
class GossipMessage:
    """A validated gossip message as the application receives it."""

    kind: TopicKind
    record: Record
    origin: str  # the peer that published it (signed by GossipSub's strict signing)


GossipHandler = Callable[[GossipMessage], Awaitable[None]]


def parse_peer_addr(addr: str) -> PeerInfo:
    """A `/ip4/.../tcp/.../p2p/<id>` string as a PeerInfo; ValueError if it is not one."""
    try:
        return info_from_p2p_addr(multiaddr.Multiaddr(addr))
    except Exception as exc:
        raise ValueError(f"{addr!r} is not a multiaddr with a /p2p/ peer id: {exc}") from None


def first_seqno() -> int:
    """The sequence number this host's first gossip message follows: the time in nanoseconds.

    A message's id is (sender, seqno), and every peer drops an id it saw in the last two minutes (and
    py-libp2p's gossipsub keeps the first message of each id for good, to spot a sender that reuses one).
    py-libp2p starts the counter at the time in *seconds*: a validator sends several messages a second,
    so after a restart under the same peer id its new messages reuse ids its last run already sent, and
    the other members drop its votes and proposals unread for minutes (a committee stalled 3 minutes
    this way in the devnet tests). Nanoseconds put a restart's ids past any a process could have used
    (as go-libp2p does); 2**63 ns is the year 2262, so the 8-byte seqno never overflows.
    """
    return time.time_ns()


class NetHost:
    """A running host; build it with `NetHost.open(config)`."""

    def __init__(
        self,
        config: NetConfig,
        host: IHost,
        pubsub: Pubsub,
        router: gs.GossipSub,
        nursery: trio.Nursery,
        providers: Providers,
    ) -> None:
        self.config = config
        self.chain_id = config.chain_id
        self._host = host
        self._pubsub = pubsub
        self._router = router
        self._nursery = nursery
        self.peer_table = PeerTable(config.score_policy)
        self.peer_id = str(host.get_id())
        self.ids = ProtocolIds.for_chain(config.chain_id)
        self.validator = GossipValidator(config.chain_id, self.peer_id, self.report, self.peer_table.reward)
        self._handlers: dict[TopicKind, list[GossipHandler]] = {k: [] for k in TopicKind}
        self._server = RequestServer(host, self.report, self.peer_table.is_banned, config.request_timeout_s)
        self._client = RequestClient(host, self.report, self.peer_table.is_banned, config.request_timeout_s)
        self.chain = ChainClient(self.ids, self._client, self.report)
        self._fetcher = BlobFetcher(
            self.chain, self.peer_table, self.report, max_pending_wait_s=config.max_pending_wait_s
        )
        self.providers = providers
        ChainServicer(self.ids, providers).register(self._server)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    @asynccontextmanager
    async def open(cls, config: NetConfig, providers: Providers | None = None) -> AsyncIterator["NetHost"]:
        key_pair = load_or_create_identity(config.key_path)
        host = new_host(
            key_pair=key_pair,
            sec_opt={
                TProtocol(NOISE_PROTOCOL_ID): NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)
            },
            muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
            addrs_factory=lambda candidates: addrs.advertised(candidates, addrs.interface_ipv4(), config.announce),
        )
        router = gs.GossipSub(
            protocols=GOSSIP_PROTOCOLS,
            degree=config.gossip_degree,
            degree_low=max(1, config.gossip_degree - 2),
            degree_high=config.gossip_degree * 2,
            heartbeat_initial_delay=0.1,
            heartbeat_interval=config.heartbeat_s,  # type: ignore[arg-type]
            max_messages_per_topic_per_second=limits.GOSSIP_MAX_MESSAGES_PER_TOPIC_PER_SECOND,
        )
        topics = {topic_name(config.chain_id, k) for k in config.topics}
        pubsub = Pubsub(
            host,
            router,
            strict_signing=True,
            max_inbound_rpc_size=limits.GOSSIP_MAX_RPC,
            validation_timeout=limits.GOSSIP_VALIDATION_TIMEOUT_S,
            allowed_topics=topics,
        )
        pubsub.counter = first_seqno()
        listen = multiaddr.Multiaddr(f"/ip4/{config.listen_host}/tcp/{config.listen_port}")
        async with host.run([listen]), background_trio_service(pubsub), background_trio_service(router):
            if not host.get_network().listeners:  # libp2p only logs a failed bind and runs on, unreachable
                raise ListenError(
                    f"could not listen on {config.listen_host}:{config.listen_port}: the port is in use or the "
                    "address is not this machine's; choose another port (--listen) or stop the program using it"
                )
            await pubsub.wait_until_ready()
            async with trio.open_nursery() as nursery:
                self = cls(config, host, pubsub, router, nursery, providers or Providers())
                host.get_network().register_notifee(_BanGate(self))
                for kind in config.topics:
                    await self._join(kind)
                nursery.start_soon(self._maintain)
                nursery.start_soon(self._dialer().run)
                try:
                    yield self
                finally:
                    nursery.cancel_scope.cancel()
            # Hang up on every peer before pubsub and the host shut down: a peer's late subscription
            # message would otherwise reach pubsub while its task nursery is closing ("Nursery is
            # closed to new arrivals") and fail the shutdown of a host that did nothing wrong.
            await self._hang_up_all()

    async def _hang_up_all(self) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(limits.DIAL_TIMEOUT_S):
            for peer_id in list(self._host.get_network().connections):
                await self._disconnect(peer_id)

    @property
    def listen_addrs(self) -> list[str]:
        """Full dialable addresses of this host (with `/p2p/<id>`)."""
        return [str(a) for a in self._host.get_addrs()]

    async def connect(self, addr: str) -> str:
        """Dial a peer by full multiaddr; return its peer id. Refuses banned peers."""
        info = parse_peer_addr(addr)
        await self._connect_info(info)
        return str(info.peer_id)

    async def _connect_info(self, info: PeerInfo) -> None:
        peer = str(info.peer_id)
        if self.peer_table.is_banned(peer):
            raise PeerBanned(f"peer {peer} is banned")
        # py-libp2p refuses for 60 s to dial a peer whose addresses all failed once. Every dial here is
        # already paced (the dialer's own retry delays, a caller's poll), and a peer that was down for a
        # restart must be reachable the moment it listens again, not a minute later.
        self._host.get_network().unblock_peer(info.peer_id)
        try:
            with trio.fail_after(limits.DIAL_TIMEOUT_S):
                await self._host.connect(info)
        except trio.TooSlowError:
            raise RequestFailed(f"dialing {peer} timed out") from None
        except Exception as exc:
            raise RequestFailed(f"dialing {peer} failed: {exc}") from None

    def connected_peers(self) -> list[str]:
        return [str(p) for p in self._host.get_network().connections if self._host.get_network().connections[p]]

    def is_connected(self, peer: str) -> bool:
        try:
            return bool(self._host.get_network().connections.get(ID.from_base58(peer)))
        except Exception:
            return False

    def peers(self) -> list[PeerInfoView]:
        """Every known peer with its score, ban state and offences, best first."""
        return self.peer_table.snapshot()

    # ------------------------------------------------------------------ gossip

    async def _join(self, kind: TopicKind) -> None:
        topic = topic_name(self.chain_id, kind)

        async def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            verdict, record = await self.validator.check(kind, str(forwarder), msg.data)
            if verdict is Verdict.ACCEPT and record is not None:
                self.validator.remember((msg.from_id, msg.seqno), record)
            return verdict is Verdict.ACCEPT

        self._pubsub.set_topic_validator(topic, validate, True)
        subscription = await self._pubsub.subscribe(topic)
        self._nursery.start_soon(self._deliver, kind, subscription)

    async def _deliver(self, kind: TopicKind, subscription) -> None:  # type: ignore[no-untyped-def]
        own = self._host.get_id().to_bytes()
        while True:
            msg = await subscription.get()
            key = (msg.from_id, msg.seqno)
            if msg.from_id == own:
                self.validator.forget(key)
                continue  # the node already knows what it published
            try:
                record = self.validator.take(key, kind, msg.data)
            except PotError as exc:  # only reachable if validation was bypassed; never deliver it
                log.error("undecodable %s message reached delivery: %s", kind.value, exc)
                continue
            message = GossipMessage(kind, record, str(ID(msg.from_id)))
            for handler in list(self._handlers[kind]):
                try:
                    await handler(message)
                except Exception:  # one faulty handler must not stop delivery of the topic
                    log.exception("gossip handler for %s failed", kind.value)

    def subscribe(self, kind: TopicKind, handler: GossipHandler) -> None:
        """Call `handler` with every validated message of `kind` from other peers."""
        if kind not in self.config.topics:
            raise ValueError(f"topic {kind.value} is not joined by this host's config")
        self._handlers[kind].append(handler)

    def set_validator(self, kind: TopicKind, validator: SemanticValidator | None) -> None:
        """Install the node's semantic check for `kind` (run after decoding, before relaying)."""
        self.validator.set_semantic(kind, validator)

    async def publish(self, record: Record) -> None:
        """Publish a record on its topic; it goes through the same validation as a peer's."""
        kind = kind_for_record(record)
        if kind not in self.config.topics:
            raise ValueError(f"topic {kind.value} is not joined by this host's config")
        await self._pubsub.publish(topic_name(self.chain_id, kind), record.encode())

    def mesh_size(self, kind: TopicKind) -> int:
        return len(self._router.mesh.get(topic_name(self.chain_id, kind), ()))

    async def wait_for_mesh(self, kind: TopicKind, min_peers: int = 1, timeout_s: float = 10.0) -> None:
        """Wait until this host has `min_peers` mesh peers on `kind` (publishing needs a mesh)."""
        with trio.fail_after(timeout_s):
            while self.mesh_size(kind) < min_peers:
                await trio.sleep(0.05)

    # ------------------------------------------------------------------ requests

    async def call_headers(self, peer: str, start_height: int, count: int) -> list[SignedHeader]:
        return await self.chain.call_headers(peer, start_height, count)

    async def call_block(self, peer: str, *, height: int | None = None, block_hash: bytes | None = None) -> Block:
        return await self.chain.call_block(peer, height=height, block_hash=block_hash)

    async def call_state_proof(self, peer: str, address: bytes) -> bytes:
        return await self.chain.call_state_proof(peer, address)

    async def call_state_entries(self, peer: str, queries: Sequence[RangeQuery]) -> StateEntriesResponse:
        """Proven state ranges from `peer` (unverified here: check them with `entryproof.verify_range`)."""
        return await self.chain.call_state_entries(peer, queries)

    # history (light client): proven transaction pages; see app/core/history.py
    async def call_history(
        self, peer: str, address: bytes, limit: int, before_height: int | None = None
    ) -> HistoryResponse:
        return await self.chain.call_history(peer, address, limit, before_height)

    async def fetch_blob(
        self,
        blob_hash: bytes,
        peers: list[str] | None = None,
        max_size: int = limits.DEFAULT_MAX_BLOB,
        chunk_size: int = limits.DEFAULT_BLOB_CHUNK,
        max_pending_wait_s: float | None = None,
    ) -> bytes:
        """Fetch and hash-check a blob from the given peers (default: every connected peer); a peer that
        answers "pending" is asked again for up to `max_pending_wait_s` (default: the host's setting)."""
        return await self._fetcher.fetch(
            blob_hash, peers if peers is not None else self.connected_peers(), max_size, chunk_size, max_pending_wait_s
        )

    def serve(self, name: str, request_type: type[Request], handler: Handler) -> str:
        """Offer an application protocol `/pot/<chain>/<name>/1` (framing, limits and scoring as above)."""
        protocol = protocol_id(self.chain_id, name)
        self._server.register(protocol, request_type, handler)
        return protocol

    async def request(self, peer: str, name: str, request: Request, response_type: type[Resp]) -> Resp:
        """Ask `peer` on an application protocol offered with `serve`."""
        return await self._client.call(peer, protocol_id(self.chain_id, name), request, response_type)

    # ------------------------------------------------------------------ scoring and bans

    def report(self, peer: str, offence: Offence) -> None:
        """Penalise `peer`; on crossing the ban threshold, cut it off at once."""
        if peer == self.peer_id:
            return
        if self.peer_table.penalise(peer, offence):
            log.warning("banning peer %s after %s", peer, offence.value)
            self._cut_off(peer)

    def ban(self, peer: str, seconds: float | None = None) -> None:
        """Ban a peer by the node's own decision (e.g. proven equivocation)."""
        self.peer_table.ban(peer, seconds)
        self._cut_off(peer)

    def unban(self, peer: str) -> None:
        """Lift a ban by the node's own decision; GossipSub's blacklist follows within one maintenance interval."""
        self.peer_table.unban(peer)

    def _cut_off(self, peer: str) -> None:
        peer_id = ID.from_base58(peer)
        # Only the set GossipSub consults before validating, delivering or relaying a message; not
        # `Pubsub.add_to_blacklist`, whose own teardown task races the disconnect's dead-peer cleanup
        # (py-libp2p 0.8.1: both delete the peer's entry; the loser's KeyError stops the Pubsub
        # service and with it the whole host) and skips the router's cleanup (the banned peer stayed
        # in the mesh). Closing the connection runs libp2p's normal dead-peer path, which does both.
        self._pubsub.blacklisted_peers.add(peer_id)
        self._nursery.start_soon(self._disconnect, peer_id)

    async def _disconnect(self, peer_id: ID) -> None:
        try:
            await self._host.disconnect(peer_id)
        except Exception as exc:
            log.debug("disconnecting %s: %s", peer_id, exc)

    async def _maintain(self) -> None:
        """Lift expired bans from GossipSub's blacklist; close any connection a banned peer holds;
        now and then forget idle peers, so the peer table stays bounded."""
        rounds = 0
        while True:
            rounds += 1
            if rounds % PRUNE_EVERY == 0:
                self.peer_table.prune()
            for peer_id in self._pubsub.get_blacklisted_peers():
                if not self.peer_table.is_banned(str(peer_id)):
                    self._pubsub.remove_from_blacklist(peer_id)
            for peer in self.connected_peers():
                if self.peer_table.is_banned(peer):
                    self._cut_off(peer)
            await trio.sleep(MAINTENANCE_INTERVAL_S)

    def _dialer(self) -> Dialer:
        bootstrap = [parse_peer_addr(a) for a in self.config.bootstrap]

        def targets() -> list[Target]:
            return [(str(i.peer_id), tuple(map(str, i.addrs))) for i in bootstrap]

        async def dial(peer: str, addrs: tuple[str, ...]) -> None:
            await self._connect_info(PeerInfo(ID.from_base58(peer), [multiaddr.Multiaddr(a) for a in addrs]))

        return Dialer(
            dial, self.is_connected, self.peer_table.is_banned, targets, Backoff(), self.config.discovery_interval_s
        )


class _BanGate(INotifee):
    """Closes a banned peer's connection the moment it is made, and tracks who is connected."""

    def __init__(self, net: NetHost) -> None:
        self._net = net

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        peer = str(conn.muxed_conn.peer_id)
        self._net.peer_table.set_connected(peer, True)
        if self._net.peer_table.is_banned(peer):
            log.info("refusing connection from banned peer %s", peer)
            self._net._nursery.start_soon(_close_conn, conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        peer = str(conn.muxed_conn.peer_id)
        if not self._net.is_connected(peer):
            self._net.peer_table.set_connected(peer, False)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        pass


async def _close_conn(conn: INetConn) -> None:
    try:
        await conn.close()
    except Exception as exc:
        log.debug("closing a banned connection: %s", exc)
