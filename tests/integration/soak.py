"""The soak run (issue 17): a loopback devnet under a hostile peer's attacks, with memory and chain measured.

The hostile peer is a real libp2p host in this process. Each identity connects to every validator and
repeats, about once a second: 10 transfers from unfunded keys, 10 receipts for tasks that do not
exist, receipts for the open round signed by fresh keys whose traces it stalls, a malformed CBOR
message, and request streams it never writes to. When every validator has cut it off it takes a new
identity (identities are free) and starts again. Used by tests/integration/test_soak.py (short) and
scripts/soak.py (minutes).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from app.core.crypto import SigningKey
from app.core.types import NO_SIGNATURE, Transfer, WorkReceipt
from app.net.host import NetConfig, NetHost
from app.net.topics import TopicKind
from app.node.devnet import Devnet, DevnetConfig
from app.node.traces import PROTOCOL_NAME as TRACE_PROTOCOL, TraceRequest
from tests.integration.hostile import _raw_publish

NEW_IDENTITY_MARGIN_S = 10.0  # no fresh identity this close to the end: each one must have time to be banned


@dataclass
class Memory:
    rss_mib: float
    peak_mib: float


@dataclass
class SoakReport:
    seconds: float
    height_start: int
    height_end: int
    memory_start: dict[str, Memory]
    memory_end: dict[str, Memory]
    identities: list[str] = field(default_factory=list)
    banned_by: dict[str, list[str]] = field(default_factory=dict)  # hostile identity -> validators banning it
    attacks: dict[str, int] = field(default_factory=dict)

    @property
    def finalised(self) -> int:
        return self.height_end - self.height_start

    def lines(self) -> list[str]:
        out = [
            f"soak: {self.seconds:.0f} s, blocks finalised {self.finalised} "
            f"(height {self.height_start} -> {self.height_end})"
        ]
        for name in self.memory_start:
            a, b = self.memory_start[name], self.memory_end.get(name)
            end = f"{b.rss_mib:.0f} MiB (peak {b.peak_mib:.0f})" if b else "gone"
            out.append(f"  {name}: RSS start {a.rss_mib:.0f} MiB (peak {a.peak_mib:.0f}), end {end}")
        out.append(f"  attacks sent: {self.attacks}")
        for ident in self.identities:
            out.append(
                f"  hostile {ident[:20]}..: banned by {len(self.banned_by.get(ident, []))} of the validators "
                f"{sorted(self.banned_by.get(ident, []))}"
            )
        return out


def memory_of(pid: int) -> Memory:
    """VmRSS and VmHWM (peak RSS) of a process, from /proc (Linux)."""
    fields_ = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields_[key] = int(value.split()[0]) / 1024
    return Memory(fields_["VmRSS"], fields_["VmHWM"])


def memories(net: Devnet) -> dict[str, Memory]:
    return {n: memory_of(m.process.pid) for n, m in net.members.items() if m.process is not None}


def height(net: Devnet, name: str = "v0") -> int:
    st = net.status(name)
    return -1 if st is None else int(st["height"])


def banned_by(net: Devnet, peer_id: str) -> list[str]:
    """Validators whose status file shows `peer_id` banned."""
    out = []
    for name, m in net.members.items():
        st = net.status(name) if m.role == "validator" else None
        if st and any(p.get("peer_id") == peer_id and p.get("banned") for p in st.get("peers", [])):
            out.append(name)
    return out


async def _stall_trace(peer: str, req: TraceRequest):  # type: ignore[no-untyped-def]
    await trio.sleep(3600)  # the forged receipt's trace never comes


async def _attack_once(host: NetHost, net: Devnet, counts: dict[str, int]) -> None:
    assert net.genesis is not None
    chain_id = net.genesis.params.chain_id
    for _ in range(10):
        tx = Transfer(
            chain_id=chain_id,
            sender=(k := SigningKey.generate()).public_key,
            nonce=0,
            recipient=bytes(20),
            amount=5,
            fee=1,
            memo="",
            signature=NO_SIGNATURE,
        ).signed_by(k)
        await _raw_publish(host, TopicKind.TXS, tx.encode())
        counts["unfunded transfers"] = counts.get("unfunded transfers", 0) + 1
        await trio.sleep(0.005)
    task = net.task_status("v0")
    for i in range(12):
        k = SigningKey.generate()
        open_round = task is not None and task["status"] == "open" and i >= 10
        receipt = WorkReceipt(
            chain_id=chain_id,
            task_id=net.task_id if open_round else os.urandom(32),  # type: ignore[arg-type]
            round=task["round"] if open_round else 0,
            miner=k.public_key,  # type: ignore[index]
            base_checkpoint=bytes.fromhex(task["checkpoint"]) if open_round else os.urandom(32),  # type: ignore[index]
            commitments_root=os.urandom(32),
            update_hash=os.urandom(32),
            steps=32,
            final_loss_micro=1,
            device_class="cpu",
            signature=NO_SIGNATURE,
        ).signed_by(k)
        await _raw_publish(host, TopicKind.RECEIPTS, receipt.encode())
        key = "forged receipts, stalled traces" if open_round else "receipts for no task"
        counts[key] = counts.get(key, 0) + 1
        await trio.sleep(0.005)
    await _raw_publish(host, TopicKind.TXS, b"\xff\x9f\x01")  # malformed CBOR
    counts["malformed CBOR"] = counts.get("malformed CBOR", 0) + 1
    for peer in host.connected_peers():
        for _ in range(3):
            try:
                await host._host.new_stream(ID.from_base58(peer), [TProtocol(host.ids.headers)])
                counts["stalled streams"] = counts.get("stalled streams", 0) + 1
            except Exception:  # cut off already
                break


async def _one_identity(net: Devnet, key_path: Path, until: float, counts: dict[str, int]) -> str:
    """Attack with one identity until every validator cut it off (or time is up); return its peer id."""
    assert net.genesis is not None
    config = NetConfig(chain_id=net.genesis.params.chain_id, key_path=key_path, heartbeat_s=0.2)
    async with NetHost.open(config) as host:
        host.serve(TRACE_PROTOCOL, TraceRequest, _stall_trace)
        for addr in net.bootstrap:
            try:
                await host.connect(addr)
            except Exception:  # noqa: BLE001 - a validator that refuses us already
                pass
        with trio.move_on_after(20):
            await host.wait_for_mesh(TopicKind.TXS, 1, 20)
        while time.monotonic() < until + NEW_IDENTITY_MARGIN_S and host.connected_peers():
            with trio.move_on_after(15):
                await _attack_once(host, net, counts)
            await trio.sleep(0.5)
        return host.peer_id


def run_soak(root: Path, seconds: float, validators: int = 4, miners: int = 1, rounds: int = 50) -> SoakReport:
    """Start a devnet in `root`, attack it for `seconds`, and measure; the devnet is stopped at the end."""
    config = DevnetConfig(
        validators=validators,
        miners=miners,
        datadir=root,
        rounds=rounds,
        local_steps=32,
        checkpoint_interval=8,
        round_wait_s=3.0,
    )
    with Devnet(config) as net:
        # Measure from the end of the first round: every node has loaded torch and trained or verified once
        # (RSS grows ~90 MiB on that first use, which is warm-up, not what the soak looks for).
        net.wait_for(lambda: (net.task_status("v0") or {}).get("round", 0) >= 1, timeout_s=300, poll_s=0.5)
        report = SoakReport(
            seconds=seconds, height_start=height(net), height_end=-1, memory_start=memories(net), memory_end={}
        )
        started = time.monotonic()
        until = started + seconds

        async def main() -> None:
            n = 0
            while time.monotonic() < until - NEW_IDENTITY_MARGIN_S:
                n += 1
                report.identities.append(await _one_identity(net, root / f"hostile-{n}.key", until, report.attacks))

        try:
            trio.run(main)
        except BaseExceptionGroup:  # py-libp2p's teardown race once the work is done (see hostile._run)
            if not report.identities:
                raise
        net.check_alive()
        time.sleep(3.0)  # the status files catch up (written every 2 s)
        report.seconds = time.monotonic() - started
        report.height_end = height(net)
        report.memory_end = memories(net)
        report.banned_by = {p: banned_by(net, p) for p in report.identities}
    return report
