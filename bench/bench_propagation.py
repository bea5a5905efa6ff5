"""Median time for a block to reach every node of a 10-node loopback network.

Ten real hosts (TCP + Noise + Yamux + GossipSub) on 127.0.0.1, each dialing up to three earlier
ones; blocks are published from rotating origins and timed until the last node delivers them to
the application (after validation). The baseline in the same run is one direct hop between two
connected nodes (the first node a block reaches), so the figure can be read as a ratio on any machine.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.types import Block, BlockBody, BlockHeader  # noqa: E402
from app.net.host import GossipMessage, NetConfig, NetHost  # noqa: E402
from app.net.topics import TopicKind  # noqa: E402

NODES = 10
BLOCKS = 30
CHAIN = "bench"


def block(height: int) -> Block:
    header = BlockHeader(CHAIN, height, bytes(32), 0, 0, height, *([bytes(32)] * 7), bytes(32))
    return Block(header, BlockBody((), (), (), (), ()), None)


async def run() -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        async with AsyncExitStack() as stack:
            hosts = []
            for i in range(NODES):
                cfg = NetConfig(CHAIN, Path(tmp) / f"{i}.key", heartbeat_s=0.2, topics=(TopicKind.BLOCKS,))
                hosts.append(await stack.enter_async_context(NetHost.open(cfg)))
            for i in range(1, NODES):
                for j in rng.sample(range(i), min(3, i)):
                    await hosts[i].connect(hosts[j].listen_addrs[0])
            arrivals: dict[int, dict[int, float]] = {}
            for idx, h in enumerate(hosts):

                async def on(m: GossipMessage, idx: int = idx) -> None:
                    arrivals.setdefault(m.record.header.height, {})[idx] = time.perf_counter()

                h.subscribe(TopicKind.BLOCKS, on)
            for h in hosts:
                await h.wait_for_mesh(TopicKind.BLOCKS, 1, 30)
            await trio.sleep(1.0)  # let the mesh settle past the first heartbeats

            async def measure(height: int, origin: int) -> tuple[float, float]:
                """(time to the first other node, time to the last) for one block."""
                targets = set(range(NODES)) - {origin}
                start = time.perf_counter()
                await hosts[origin].publish(block(height))
                with trio.fail_after(10):
                    while not targets <= set(arrivals.get(height, {})):
                        await trio.sleep(0.0005)
                times = [arrivals[height][t] - start for t in targets]
                return min(times), max(times)

            all_times, hop_times = [], []
            for n in range(BLOCKS):
                first, last = await measure(1000 + n, n % NODES)
                hop_times.append(first)
                all_times.append(last)
            med_all, med_hop = statistics.median(all_times), statistics.median(hop_times)
            print(f"nodes={NODES} blocks={BLOCKS}")
            print(
                f"median time to reach all {NODES - 1} other nodes: {med_all * 1000:.2f} ms "
                f"(p90 {sorted(all_times)[int(0.9 * len(all_times))] * 1000:.2f} ms)"
            )
            print(f"baseline, first node reached (one hop):    {med_hop * 1000:.2f} ms")
            print(f"ratio all-nodes / one hop:                {med_all / med_hop:.1f}x")


if __name__ == "__main__":
    trio.run(run)
