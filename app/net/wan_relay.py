"""A user-space TCP relay that makes a host's inbound links feel like a wide-area network.

The rehearsal (`scripts/rehearsal.py`) runs many hosts on one machine, where links are instant and never
lose anything; the kernel here has no `netem` to change that. Each host's node listens privately and its
relay listens on the host's public address: every chunk read from one side is delivered to the other after
the link's one-way delay, in both directions, so a round trip costs twice the delay.

Loss is emulated the way TCP feels it, not by dropping bytes: dropping bytes from a stream would corrupt it
(TCP never hands the application a gap), whereas a lost segment costs the sender a retransmission timeout
and, because delivery is in order, holds everything behind it. So each chunk, with probability `loss`, waits
an extra retransmission timeout (200-300 ms) and later chunks queue behind it.

A partition cuts a set of hosts off from the rest: chunks crossing the cut wait (as TCP retransmits into a
black hole) until it heals, new connections across it are held before they reach the node. The relay tells
which host dialled from the source address (one address per network namespace) or, on a shared loopback,
from the process that owns the source socket. Control (the cut, who is who) is a JSON file the relay
rereads when it changes, so relays in other namespaces and processes obey one switch.

    python -m app.net.wan_relay --spec relays.json --control control.json [--stats stats.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

CHUNK = 65536
QUEUE_CHUNKS = 256  # chunks in flight per direction before the reader waits (a bandwidth-delay product)
RTO_S = (0.2, 0.3)  # the retransmission stall a lost segment costs, drawn uniformly
CONTROL_POLL_S = 0.1
BLOCKED_POLL_S = 0.05


@dataclass(frozen=True)
class LinkProfile:
    """One host's access link: the one-way delay each chunk waits, and the chance a chunk is 'lost'."""

    delay_s: float
    loss: float = 0.0
    rto_s: tuple[float, float] = RTO_S

    def __post_init__(self) -> None:
        if self.delay_s < 0 or not 0 <= self.loss < 1:
            raise ValueError(f"bad link profile: delay {self.delay_s} s, loss {self.loss}")


@dataclass(frozen=True)
class RelaySpec:
    """A relay in front of host `host`: public `listen` -> private `target`."""

    host: str
    listen: tuple[str, int]
    target: tuple[str, int]
    profile: LinkProfile

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "listen": list(self.listen),
            "target": list(self.target),
            "delay_s": self.profile.delay_s,
            "loss": self.profile.loss,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RelaySpec:
        profile = LinkProfile(float(doc["delay_s"]), float(doc["loss"]))
        listen, target = doc["listen"], doc["target"]
        return cls(str(doc["host"]), (str(listen[0]), int(listen[1])), (str(target[0]), int(target[1])), profile)


@dataclass
class Control:
    """What every relay obeys: the hosts cut off, and how to tell which host a connection comes from."""

    cut: frozenset[str] = frozenset()
    by_ip: dict[str, str] = field(default_factory=dict)  # source address -> host (network namespaces)
    by_pid: dict[int, str] = field(default_factory=dict)  # process -> host (a shared loopback)
    delays: dict[str, float] = field(default_factory=dict)  # host -> its own one-way delay (s), when known

    def blocked(self, a: str | None, b: str) -> bool:
        """Whether the link between `a` (None: an unknown dialer, outside any cut) and `b` crosses the cut."""
        return (a in self.cut) != (b in self.cut)

    def identify(self, peer: tuple[str, int]) -> str | None:
        """The host that owns the socket at `peer`, or None."""
        host = self.by_ip.get(peer[0])
        if host is not None or not self.by_pid:
            return host
        for pid, name in list(self.by_pid.items()):
            try:
                conns = psutil.Process(pid).net_connections(kind="tcp")
            except (psutil.Error, OSError):
                continue
            if any(c.laddr and (c.laddr.ip, c.laddr.port) == peer for c in conns):
                return name
        return None

    def profile(self, dialer: str | None, listener: LinkProfile) -> LinkProfile:
        """The link's profile: its one-way delay is the mean of both hosts' delays when the dialer's is known,
        so the distance of a host nobody dials (a volunteer) counts too; else the listener's own."""
        if dialer not in self.delays:
            return listener
        return LinkProfile((listener.delay_s + self.delays[str(dialer)]) / 2, listener.loss, listener.rto_s)

    def to_json(self) -> dict[str, Any]:
        by_pid = {str(k): v for k, v in self.by_pid.items()}
        return {"cut": sorted(self.cut), "by_ip": self.by_ip, "by_pid": by_pid, "delays": self.delays}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Control:
        by_pid = {int(k): str(v) for k, v in doc.get("by_pid", {}).items()}
        delays = {str(k): float(v) for k, v in doc.get("delays", {}).items()}
        return cls(frozenset(doc.get("cut", [])), dict(doc.get("by_ip", {})), by_pid, delays)


def write_control(path: Path, control: Control) -> None:
    """Replace the control file atomically (relays may read it at any moment)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(control.to_json()))
    os.replace(tmp, path)


@dataclass
class Stats:
    connections: int = 0
    chunks: int = 0
    bytes: int = 0
    stalls: int = 0  # emulated losses (retransmission timeouts)
    held_s: float = 0.0  # time chunks waited on a partition

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in self.__dict__.items()}


class Relay:
    """All relays of one process on one asyncio loop, sharing one `Control`."""

    def __init__(self, specs: list[RelaySpec], control: Control | None = None, seed: int = 0) -> None:
        self.specs = specs
        self.control = control or Control()
        self.stats = Stats()
        self._seed = seed
        self._servers: list[asyncio.AbstractServer] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for spec in self.specs:
            server = await asyncio.start_server(
                lambda r, w, s=spec: self._spawn(self._serve(s, r, w)), spec.listen[0], spec.listen[1]
            )
            self._servers.append(server)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _held(self, dialer: str | None, host: str) -> None:
        """Wait while the link between `dialer` and `host` crosses the cut."""
        if not self.control.blocked(dialer, host):
            return
        started = time.monotonic()
        while self.control.blocked(dialer, host):
            await asyncio.sleep(BLOCKED_POLL_S)
        self.stats.held_s += time.monotonic() - started

    async def _serve(self, spec: RelaySpec, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        dialer = await asyncio.get_running_loop().run_in_executor(None, self.control.identify, tuple(peer[:2]))
        self.stats.connections += 1
        index = self.stats.connections
        try:
            await self._held(dialer, spec.host)
            up_reader, up_writer = await asyncio.open_connection(*spec.target)
        except OSError:
            writer.close()
            return
        rngs = [random.Random(f"{self._seed}:{spec.host}:{index}:{d}") for d in ("in", "out")]
        link = (dialer, spec.host)
        profile = self.control.profile(dialer, spec.profile)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, profile, rngs[0], link),
                self._pump(up_reader, writer, profile, rngs[1], link),
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up_writer):
                w.close()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        profile: LinkProfile,
        rng: random.Random,
        link: tuple[str | None, str],
    ) -> None:
        """Copy one direction, each chunk delivered at its due time, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)

        async def read_side() -> None:
            last_due = 0.0
            while True:
                try:
                    data = await reader.read(CHUNK)
                except OSError:
                    data = b""
                if data:
                    await self._held(*link)
                stall = rng.uniform(*profile.rto_s) if data and rng.random() < profile.loss else 0.0
                self.stats.stalls += stall > 0
                last_due = max(last_due, time.monotonic() + profile.delay_s + stall)
                await queue.put((last_due, data))
                if not data:
                    return

        async def write_side() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    with contextlib.suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                await self._held(*link)
                writer.write(data)
                await writer.drain()
                self.stats.chunks += 1
                self.stats.bytes += len(data)

        await asyncio.gather(read_side(), write_side())


@contextlib.contextmanager
def relay_in_thread(specs: list[RelaySpec], control: Control | None = None, seed: int = 0) -> Iterator[Relay]:
    """Run `Relay(specs)` on its own loop in a background thread (tests, and one-process use)."""
    relay = Relay(specs, control, seed)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(relay.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(relay.close())
        loop.close()

    thread = threading.Thread(target=run, name="wan-relay", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the relay did not start")
    try:
        yield relay
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


async def _follow(relay: Relay, control_path: Path, stats_path: Path | None) -> None:
    """Reread the control file when it changes; write the stats now and then."""
    seen = 0.0
    last_stats = 0.0
    while True:
        with contextlib.suppress(OSError, ValueError):
            mtime = control_path.stat().st_mtime
            if mtime != seen:
                relay.control = Control.from_json(json.loads(control_path.read_text()))
                seen = mtime
        if stats_path is not None and time.monotonic() - last_stats > 1.0:
            last_stats = time.monotonic()
            tmp = stats_path.with_name(stats_path.name + ".tmp")
            tmp.write_text(json.dumps(relay.stats.to_json()))
            os.replace(tmp, stats_path)
        await asyncio.sleep(CONTROL_POLL_S)


async def _main(specs: list[RelaySpec], control_path: Path, stats_path: Path | None, seed: int) -> None:
    relay = Relay(specs, seed=seed)
    await relay.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    follower = asyncio.ensure_future(_follow(relay, control_path, stats_path))
    print("relay ready", flush=True)
    await stop.wait()
    follower.cancel()
    await relay.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="a WAN-emulating TCP relay (delay, TCP-like loss, partitions)")
    p.add_argument("--spec", type=Path, required=True, help="JSON: {seed, relays: [RelaySpec...]}")
    p.add_argument("--control", type=Path, required=True, help="JSON control file (cut, who is who)")
    p.add_argument("--stats", type=Path, default=None, help="write counters here every second")
    args = p.parse_args(argv)
    doc = json.loads(args.spec.read_text())
    specs = [RelaySpec.from_json(r) for r in doc["relays"]]
    asyncio.run(_main(specs, args.control, args.stats, int(doc.get("seed", 0))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
