"""A multi-host rehearsal on one machine: validators, a bootstrap node and volunteer daemons over a fake WAN.

Every host that others dial (validators, the bootstrap node) listens privately and is reached only through
its WAN relay (`app.net.wan_relay`: delay, TCP-like loss, partitions), whose address it announces. Hosts are
network namespaces on a bridge (`netns=True`, root) or distinct ports on 127.0.0.1. The measuring phases
(`app.node.rehearsal_run`) drive a `Rehearsal` through start, rewards, a validator crash and a partition.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.storage import Store
from app.net import netns
from app.net.wan_relay import Control, LinkProfile, RelaySpec, write_control
from app.node.devnet import Devnet, DevnetConfig, Member, free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "rehearsal volunteer"
STOP_GRACE_S = 15.0
VOLUNTEER_CONFIG = """[mining]
mode = "always"
pause_on_battery = false
cpu_threads = 1
[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
node_mode = "{mode}"
"""


@dataclass(frozen=True)
class RehearsalConfig:
    validators: int = 4
    volunteers: int = 8
    netns: bool = False
    delay_ms: tuple[float, float] = (40.0, 150.0)  # each host's one-way delay is drawn in this range
    loss: float = 0.01
    seed: int = 1
    timeout_s: float = 1200.0
    node_mode: str = "light"  # the volunteers' [network] node_mode
    datadir: Path | None = None
    local_steps: int = 16
    checkpoint_interval: int = 8
    batch_size: int = 16
    rounds: int = 1000  # enough that the task stays open through the whole run
    block_interval_s: float = 1.0
    round_wait_s: float = 3.0
    partition_s: float = 30.0
    crash_down_s: float = 5.0


@dataclass
class Volunteer:
    """One `potminer daemon` in light (or full) mode: its folder, process and when it started."""

    name: str
    datadir: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    first_reward_s: float | None = None
    log_file: Any = field(default=None, repr=False)


class WanDevnet(Devnet):
    """A devnet whose nodes listen privately and are dialled through their relays' public addresses."""

    def __init__(self, config: DevnetConfig, rehearsal: Rehearsal) -> None:
        super().__init__(config)
        self.rehearsal = rehearsal

    def _member(self, name: str, role: str) -> Member:
        member = super()._member(name, role)
        self.rehearsal.place(name, member.port)
        return member

    def public(self, member: Member) -> str:
        ip, port = self.rehearsal.public[member.name]
        return f"/ip4/{ip}/tcp/{port}/p2p/{member.peer_id}"

    @property
    def bootstrap(self) -> list[str]:
        return [self.public(m) for m in self.members.values() if m.role == "validator"]

    def command(self, member: Member) -> list[str]:
        ip, port = self.rehearsal.public[member.name]
        return [*self.rehearsal.prefix(member.name), *super().command(member), "--announce", f"/ip4/{ip}/tcp/{port}"]

    def start(self, name: str) -> None:
        super().start(name)
        self.rehearsal.publish_control()


class Rehearsal:
    """The hosts, relays and processes of one rehearsal; a context manager that removes all of them."""

    def __init__(self, config: RehearsalConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.bridge: netns.Bridge | None = None
        self.public: dict[str, tuple[str, int]] = {}  # host -> its relay's address (what peers dial)
        self.delays: dict[str, float] = {}  # host -> one-way delay (s)
        self.cut: frozenset[str] = frozenset()
        self.relays: list[subprocess.Popen[bytes]] = []
        self.volunteers: dict[str, Volunteer] = {}
        self._control_lock = threading.Lock()  # volunteers start from threads
        dev = DevnetConfig(
            validators=config.validators,
            miners=0,
            datadir=config.datadir,
            rounds=config.rounds,
            local_steps=config.local_steps,
            checkpoint_interval=config.checkpoint_interval,
            batch_size=config.batch_size,
            block_interval_s=config.block_interval_s,
            round_wait_s=config.round_wait_s,
        )
        self.net = WanDevnet(dev, self)
        self.root = self.net.root
        self.started = time.monotonic()

    # ------------------------------------------------------------------ hosts

    def place(self, name: str, port: int) -> None:
        """Give host `name` its delay, and its namespace or loopback port; `port` is its node's private port."""
        low, high = self.config.delay_ms
        self.delays[name] = self.rng.uniform(low, high) / 1000
        if self.bridge is not None:
            host = self.bridge.hosts.get(name) or self.bridge.add(name)
            self.public[name] = (host.address, port)
        else:
            self.public[name] = ("127.0.0.1", free_port())

    def prefix(self, name: str) -> list[str]:
        if self.bridge is None:
            return []
        return self.bridge.hosts[name].prefix()

    def publish_control(self) -> None:
        """Tell every relay the cut, the hosts' addresses (namespaces) or processes (loopback), and delays."""
        by_ip: dict[str, str] = {}
        by_pid: dict[int, str] = {}
        if self.bridge is not None:
            by_ip = {h.address: name for name, h in self.bridge.hosts.items()}
        else:
            by_pid = {m.process.pid: n for n, m in self.net.members.items() if m.process is not None}
            by_pid |= {v.process.pid: n for n, v in self.volunteers.items() if v.process is not None}
        with self._control_lock:
            write_control(self.root / "control.json", Control(self.cut, by_ip, by_pid, dict(self.delays)))

    def partition(self, side: set[str]) -> None:
        """Cut `side` off from every other host (an empty set heals)."""
        self.cut = frozenset(side)
        self.publish_control()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Rehearsal:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        if self.config.netns:
            self.bridge = netns.Bridge()
        self.net.setup()
        self.net.add_node("boot", role="full", start=False)
        for i in range(self.config.volunteers):
            name = f"vol{i}"
            self.place(name, 0)
            self.volunteers[name] = Volunteer(name, self.root / name)
        self.publish_control()
        self._start_relays()
        for name in self.net.members:
            self.net.start(name)
        self.net.wait_ready()
        self.net.post_task()

    def _relay_specs(self) -> dict[str, list[RelaySpec]]:
        """Relay specs grouped by the process that runs them: one per namespace, or one for all on loopback."""
        groups: dict[str, list[RelaySpec]] = {}
        for name, member in self.net.members.items():
            profile = LinkProfile(self.delays[name], self.config.loss)
            spec = RelaySpec(name, self.public[name], ("127.0.0.1", member.port), profile)
            groups.setdefault(name if self.bridge is not None else "all", []).append(spec)
        return groups

    def _start_relays(self) -> None:
        for group, specs in self._relay_specs().items():
            path = self.root / f"relay-{group}.json"
            path.write_text(json.dumps({"seed": self.config.seed, "relays": [s.to_json() for s in specs]}))
            argv = [sys.executable, "-m", "app.net.wan_relay", "--spec", str(path), "--control"]
            argv += [str(self.root / "control.json"), "--stats", str(self.root / f"relay-{group}.stats.json")]
            log = open(self.root / f"relay-{group}.log", "ab")
            prefix = self.prefix(group) if self.bridge is not None else []
            proc = subprocess.Popen([*prefix, *argv], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            log.close()
            self.relays.append(proc)
        deadline = time.monotonic() + 30
        for group in self._relay_specs():
            while "relay ready" not in _read(self.root / f"relay-{group}.log"):
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.relays):
                    raise RuntimeError(f"relay {group} did not start: {_read(self.root / f'relay-{group}.log')}")
                time.sleep(0.1)

    def relay_stats(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for path in self.root.glob("relay-*.stats.json"):
            try:
                for k, v in json.loads(path.read_text()).items():
                    total[k] = total.get(k, 0) + v
            except (OSError, ValueError):
                continue
        return total

    def close(self) -> None:
        """Stop volunteers, nodes and relays (SIGTERM, then SIGKILL), and remove the namespaces and bridge."""
        for v in self.volunteers.values():  # all told at once: each may take seconds to save its round
            if v.process is not None and v.process.poll() is None:
                v.process.send_signal(signal.SIGTERM)
        for v in self.volunteers.values():
            _stop(v.process)
            if v.log_file is not None:
                v.log_file.close()
            v.process = None
        for proc in self.relays:
            _stop(proc, grace_s=3)
        self.relays.clear()
        self.net.close()
        if self.bridge is not None:
            self.bridge.close()
            self.bridge = None

    # ------------------------------------------------------------------ volunteers

    def start_volunteer(self, name: str) -> None:
        """Start one daemon dialling the public addresses of the bootstrap node and the validators (a chain's
        bootstrap.json lists both): a validator fetches a receipt's trace from its publisher, so a volunteer
        that reached only the bootstrap node could gossip receipts but never be paid."""
        from app.cli.launcher import wait_until_serving

        v = self.volunteers[name]
        v.datadir.mkdir(parents=True, exist_ok=True)
        (v.datadir / "config.toml").write_text(VOLUNTEER_CONFIG.format(mode=self.config.node_mode))
        peers = [self.net.public(self.net.members["boot"]), *self.net.bootstrap]
        argv = [sys.executable, "-m", "app", "daemon", "--datadir", str(v.datadir)]
        argv += ["--genesis", str(self.root / "genesis.json"), "--bootstrap", *peers]
        v.log_file = open(v.datadir / "daemon.out", "ab")
        v.started_at = time.monotonic()
        v.process = subprocess.Popen(
            [*self.prefix(name), *argv], cwd=ROOT, stdout=v.log_file, stderr=subprocess.STDOUT, env=dict(os.environ)
        )
        self.publish_control()
        wait_until_serving(v.process, v.datadir, 180.0, poll_s=0.3)

    def enrol(self, name: str) -> None:
        """Create the volunteer's wallet (as the wizard does) and start mining."""
        self.rpc(name, "wallet.create", {"password": PASSWORD, "words": 12})
        self.rpc(name, "mine.start", {"mode": "always"})

    def rpc(self, name: str, method: str, params: dict[str, Any] | None = None) -> Any:
        from app.rpc.client import RpcClient

        with RpcClient.for_datadir(self.volunteers[name].datadir, timeout=60) as client:
            return client.call(method, params or {})

    def paid(self, name: str) -> bool:
        """Whether a reward (vesting or vested) has reached this volunteer's wallet."""
        balance = self.rpc(name, "wallet.balance")
        return int(balance["total"]) + int(balance["pending"]) > 0

    # ------------------------------------------------------------------ chain views

    def head(self, name: str) -> tuple[int, str] | None:
        """(height, head hash) of any host: a node's status file, a volunteer's RPC status."""
        if name in self.volunteers:
            try:
                node = self.rpc(name, "status")["node"]
            except Exception:  # noqa: BLE001 - down or busy: no answer this time
                return None
            return (int(node["height"]), str(node["head"])) if node else None
        st = self.net.status(name)
        return (int(st["height"]), str(st["head_hash"])) if st else None

    def height(self, name: str) -> int:
        got = self.head(name)
        return -1 if got is None else got[0]

    def store_path(self, name: str) -> Path | None:
        """A host's chain database, where it keeps one (nodes, full-mode volunteers)."""
        path = (
            self.volunteers[name].datadir / "node" / "chain.sqlite"
            if name in self.volunteers
            else self.net.members[name].datadir / "chain.sqlite"
        )
        return path if path.exists() else None

    def hashes(self, name: str, top: int) -> list[bytes]:
        """Block hashes at heights 1..top from `name`'s chain database."""
        assert self.net.genesis is not None
        path = self.store_path(name)
        assert path is not None
        with Store(path, self.net.genesis.params.chain_id) as store:
            out = []
            for h in range(1, top + 1):
                header = store.header_by_height(h)
                assert header is not None, f"{name} has no block at height {h}"
                out.append(header.block_hash)
            return out

    def block_times(self, start: int, end: int) -> list[float]:
        """Seconds between consecutive blocks start..end on the first validator's chain (header timestamps)."""
        assert self.net.genesis is not None
        path = self.store_path("v0")
        assert path is not None
        with Store(path, self.net.genesis.params.chain_id) as store:
            stamps = [store.header_by_height(h) for h in range(max(1, start), end + 1)]
        ms = [h.timestamp_ms for h in stamps if h is not None]
        return [(b - a) / 1000 for a, b in zip(ms, ms[1:], strict=False)]

    def hosts(self) -> list[str]:
        return [*self.net.members, *self.volunteers]

    def check_alive(self) -> None:
        self.net.check_alive()
        for v in self.volunteers.values():
            if v.process is not None and v.process.poll() is not None:
                raise RuntimeError(f"volunteer {v.name} exited with {v.process.returncode}; see {v.datadir}")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _stop(proc: subprocess.Popen[bytes] | None, grace_s: float = STOP_GRACE_S) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
