"""Issue 17 row 2: a peer that opens many request streams and writes nothing cannot starve the others.

Real hosts on 127.0.0.1: the attacker opens 80 header streams and sends no frame; an honest peer
asking for one header at the same time is served (slots are per peer), and the attacker's stalled
streams are dropped within the first-frame deadline and cost it a ban.
"""

from __future__ import annotations

from pathlib import Path

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from app.net import limits
from app.net.host import NetHost
from app.net.protocols import Providers
from tests.net.netutil import make_chain, swarm, wait_until

CHAIN = make_chain(10)
STALLED_STREAMS = 80


def providers(i: int) -> Providers:
    return Providers(headers=lambda start, count: CHAIN[start : start + count]) if i == 0 else Providers()


async def _open_silent_streams(attacker: NetHost, target: str, n: int) -> list[object]:
    """Open `n` header streams to `target` and write nothing on any of them (as a hostile peer would)."""
    streams: list[object] = []
    for _ in range(n):
        try:
            streams.append(await attacker._host.new_stream(ID.from_base58(target), [TProtocol(attacker.ids.headers)]))
        except Exception:  # the server may already have cut the attacker off
            break
    return streams


def test_stalled_streams_neither_starve_an_honest_peer_nor_go_unpunished(tmp_path: Path) -> None:
    async def main() -> None:
        # server <- honest, server <- attacker (the swarm dials in a line; the attacker re-dials the server)
        async with swarm(tmp_path, 3, providers=providers) as (server, honest, attacker):
            await attacker.connect(server.listen_addrs[0])
            streams = await _open_silent_streams(attacker, server.peer_id, STALLED_STREAMS)
            assert len(streams) >= limits.MAX_STREAMS_PER_PEER  # the attack really holds streams open

            # While the attacker's streams sit there, one honest header request is answered at once.
            with trio.fail_after(limits.FIRST_FRAME_TIMEOUT_S):
                headers = await honest.call_headers(server.peer_id, 3, 1)
            assert [h.header.height for h in headers] == [3]

            # The stalled streams are dropped at the first-frame deadline and the attacker is banned.
            await wait_until(
                lambda: server.peer_table.is_banned(attacker.peer_id),
                timeout_s=limits.FIRST_FRAME_TIMEOUT_S + 5,
                what="the staller banned",
            )
            offences = {v.peer_id: v.offences for v in server.peers()}
            assert offences[attacker.peer_id].get("stalled-stream", 0) >= 1
            assert offences.get(honest.peer_id, {}) == {}
            assert not server.peer_table.is_banned(honest.peer_id)
            # and the honest peer is still served after the attack
            assert len(await honest.call_headers(server.peer_id, 0, 10)) == 10

    trio.run(main)
