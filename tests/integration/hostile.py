"""Outside peers for the integration tests: a real libp2p host that misbehaves on purpose."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import trio

from app.core.crypto import SigningKey
from app.core.encoding import encode
from app.core.types import VOTE_PREVOTE, Vote
from app.net import limits
from app.net.errors import RequestFailed
from app.net.host import NetConfig, NetHost
from app.net.topics import TopicKind, topic_name


async def _raw_publish(host: NetHost, kind: TopicKind, data: bytes) -> None:
    """Publish bytes with this host's own validation switched off, as a hostile peer would."""
    topic = topic_name(host.chain_id, kind)
    host._pubsub.remove_topic_validator(topic)
    await host._pubsub.publish(topic, data)


def _run(main) -> object:  # type: ignore[no-untyped-def]
    """trio.run, forgiving py-libp2p's teardown race ("Nursery is closed") once the work is done."""
    result: list[object] = []

    async def wrapped() -> None:
        result.append(await main())

    try:
        trio.run(wrapped)
    except BaseExceptionGroup:
        if not result:
            raise
    return result[0]


async def connect_patiently(host: NetHost, target: str, timeout_s: float = 30.0) -> None:
    """Dial `target` until it answers: a node of a busy devnet (its auditor re-executing training on a
    2-core machine) can miss a handshake deadline, and an attacker simply dials again."""
    deadline = trio.current_time() + timeout_s
    while True:
        try:
            await host.connect(target)
            return
        except RequestFailed:
            if trio.current_time() > deadline:
                raise
            await trio.sleep(1.0)


def flood(chain_id: str, target: str, key_path: Path, messages: int = 8) -> str:
    """Connect to `target`, send garbage and oversized gossip; return this peer's id."""

    async def main() -> str:
        config = NetConfig(chain_id=chain_id, key_path=key_path, heartbeat_s=0.2)
        async with NetHost.open(config) as host:
            await connect_patiently(host, target)
            await host.wait_for_mesh(TopicKind.TXS, 1, 30)
            for i in range(messages):
                await _raw_publish(host, TopicKind.TXS, encode(["garbage", i]))
                await _raw_publish(host, TopicKind.TXS, b"\x01" * (limits.GOSSIP_MAX_TX + 100))
                await trio.sleep(0.05)
            await trio.sleep(1.0)
            return host.peer_id

    return str(_run(main))


PAIRS_PER_HEIGHT = 4


def equivocate(
    chain_id: str,
    targets: Sequence[str],
    key: SigningKey,
    committed_height: Callable[[], int],
    key_path: Path,
    until: Callable[[], bool],
    timeout_s: float = 120.0,
) -> None:
    """Sign two different prevotes (view 0) with a committee key at the height being decided and the two after, gossip
    both, and go on at each height the chain reaches until `until()` holds.

    Heights fixed before the mesh forms can be behind the chain by the time the votes go out on a slow machine,
    and a vote for a decided height is dropped unread: the cheat follows the chain instead.
    """

    async def main() -> None:
        config = NetConfig(chain_id=chain_id, key_path=key_path, heartbeat_s=0.2)
        async with NetHost.open(config) as host:
            for t in targets:
                await connect_patiently(host, t)
            await host.wait_for_mesh(TopicKind.VOTES, 1, 30)
            signed: dict[int, int] = {}  # height -> pairs sent
            deadline = trio.current_time() + timeout_s
            while not until():
                if trio.current_time() > deadline:
                    raise TimeoutError(f"no slashing {timeout_s:.0f} s after double votes at heights {sorted(signed)}")
                top = committed_height()  # from a status file: a block or two behind on a loaded machine
                for height in (top + 1, top + 2, top + 3):
                    # a fresh pair each pass (other block hashes: gossip would drop a repeat as seen), a few per
                    # height: the pair must reach a validator while that height is still being decided there
                    n = signed.get(height, 0)
                    if n >= PAIRS_PER_HEIGHT:
                        continue
                    signed[height] = n + 1
                    for fill in (0xA1, 0xB2):
                        vote = Vote(
                            chain_id=chain_id,
                            height=height,
                            view=0,
                            kind=VOTE_PREVOTE,
                            block_hash=bytes([fill]) * 31 + bytes([n]),
                            voter=key.public_key,
                            signature=bytes(64),
                        )
                        await host.publish(vote.signed_by(key))
                await trio.sleep(0.5)

    _run(main)
