"""A whole network on 127.0.0.1: keys, genesis, one process per node, the default task, clean exit.

`Devnet` is a context manager: entering generates everything and starts the processes, leaving stops
every child (SIGTERM, then SIGKILL after a grace period) so no orphan survives. Tests use the same
class to kill, restart and add nodes, and read each node's status file to wait on conditions.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.blobstore import BlobStore
from app.core.crypto import SigningKey
from app.core.genesis import Genesis, genesis_to_json, make_devnet_genesis
from app.core.params import DEVNET, ChainParams
from app.core.types import GRAINS_PER_POT, MAX_COMMITTEE, NO_SIGNATURE, TaskPost, TaskSpec
from app.miner.demo import practice_task_spec, seed_blobs, task_spec
from app.net.identity import load_or_create_identity, peer_id_of
from app.node import client
from app.node.keys import save_key
from app.node.status import read_status
from app.resources import cli_command

REQUESTER_FUNDS = 1_000_000 * GRAINS_PER_POT
FEE_PER_ROUND = 10 * GRAINS_PER_POT
TX_FEE = 1_000
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class DevnetConfig:
    validators: int = 4
    miners: int = 2
    datadir: Path | None = None
    rounds: int = 10
    local_steps: int = 64
    checkpoint_interval: int = 16
    batch_size: int = 32
    block_interval_s: float = 1.0
    round_wait_s: float = 5.0
    post_task: bool = True
    extra_args: tuple[str, ...] = ()
    reward_vesting_blocks: int | None = None  # None: the devnet parameters' challenge window
    programs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (member name, program run instead of `potminer node`)
    # The practice network's task (digits-plus, held-out loss improving for hundreds of rounds, a patience
    # rule): `make run` and `potminer devnet`. Tests keep the reference digits task, whose numbers they pin.
    practice: bool = False


@dataclass
class Member:
    """One node of the devnet: its role, folder, key, address and (while running) process."""

    name: str
    role: str
    datadir: Path
    key: SigningKey
    port: int
    peer_id: str
    process: subprocess.Popen[bytes] | None = None
    log_file: Any = field(default=None, repr=False)
    program: tuple[str, ...] | None = None  # replaces `potminer node` (a test's adversarial node); same arguments

    @property
    def multiaddr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.port}/p2p/{self.peer_id}"


def ephemeral_port_range() -> tuple[int, int]:
    """The ports the kernel hands to outgoing connections (Linux's setting; the IANA range elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port` now (a bind test)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(rng: random.Random | None = None) -> int:
    """A port free now on 127.0.0.1, chosen below the ephemeral range.

    A port the kernel picked with bind(0) comes from the range it also gives to outgoing connections: while a
    busy devnet dials, one of them can take that port before the node binds it (or while a killed node is
    down), and the node then cannot listen. Below the range only another listener can collide, and the bind
    test here rules that out for now.
    """
    rng = rng or random.SystemRandom()
    low = min(ephemeral_port_range()[0], 49152)
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12_000), low)
        if port_is_free(port):
            return port
    with socket.socket() as s:  # a crowded machine: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_devnet_size(validators: int, miners: int) -> None:
    """Refuse, in one line, a committee the chain cannot hold (1 to MAX_COMMITTEE) or negative miners."""
    if not 1 <= validators <= MAX_COMMITTEE:
        raise ValueError(f"a devnet needs 1 to {MAX_COMMITTEE} validators, not {validators}")
    if miners < 0:
        raise ValueError(f"a devnet cannot have {miners} miners")


def devnet_params(validators: int, reward_vesting_blocks: int | None = None) -> ChainParams:
    """The devnet's rules with a committee large enough for every validator it starts.

    With 4 validators or fewer these are the DEVNET parameters unchanged (same genesis rules as before);
    more validators raise the committee size to their number, so all of them sign from block 1.
    """
    params = DEVNET if validators <= DEVNET.committee_size else DEVNET.replace(committee_size=validators)
    return params if reward_vesting_blocks is None else params.replace(reward_vesting_blocks=reward_vesting_blocks)


class Devnet:
    def __init__(self, config: DevnetConfig) -> None:
        check_devnet_size(config.validators, config.miners)
        self.config = config
        self._temporary = config.datadir is None
        self.root = Path(tempfile.mkdtemp(prefix="pot-devnet-")) if config.datadir is None else config.datadir
        self.members: dict[str, Member] = {}
        self.requester = SigningKey.generate()
        self.genesis: Genesis | None = None
        make_spec = practice_task_spec if config.practice else task_spec
        self.spec: TaskSpec = make_spec(
            local_steps=config.local_steps,
            checkpoint_interval=config.checkpoint_interval,
            batch_size=config.batch_size,
            rounds=config.rounds,
        )
        self.task_id: bytes | None = None

    # ------------------------------------------------------------------ setup

    def __enter__(self) -> "Devnet":
        try:
            self.setup()
            for name in self.members:
                self.start(name)
            self.wait_ready()
            if self.config.post_task:
                self.post_task()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def setup(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for i in range(self.config.validators):
            self._member(f"v{i}", "validator")
        for i in range(self.config.miners):
            self._member(f"m{i}", "miner")
        for name, program in self.config.programs:
            self.members[name].program = program
        validators = [m.key.public_key for m in self.members.values() if m.role == "validator"]
        params = devnet_params(self.config.validators, self.config.reward_vesting_blocks)
        self.genesis = make_devnet_genesis(validators, {self.requester.address: REQUESTER_FUNDS}, params=params)
        (self.root / "genesis.json").write_text(genesis_to_json(self.genesis))
        save_key(self.root / "requester.key", self.requester)

    def _member(self, name: str, role: str) -> Member:
        datadir = self.root / name
        datadir.mkdir(parents=True, exist_ok=True)
        key_path = datadir / "node.key"
        key = SigningKey.generate()
        save_key(key_path, key)
        peer_id = str(peer_id_of(load_or_create_identity(datadir / "p2p.key")))
        seed_blobs(BlobStore(datadir / "blobs"), self.spec)  # the demo data ships with every node
        member = Member(name, role, datadir, key, free_port(), peer_id)
        self.members[name] = member
        return member

    def add_node(self, name: str, role: str = "full", start: bool = True) -> Member:
        """A new node after genesis (a fresh full node that must sync from scratch)."""
        member = self._member(name, role)
        if start:
            self.start(name)
        return member

    @property
    def bootstrap(self) -> list[str]:
        return [m.multiaddr for m in self.members.values() if m.role == "validator"]

    # ------------------------------------------------------------------ processes

    def command(self, member: Member) -> list[str]:
        others = [a for a in self.bootstrap if not a.endswith(member.peer_id)]
        # cli_command(): `python -m app` from source, the bundled potminer executable in a PyInstaller build
        program = list(member.program) if member.program is not None else [*cli_command(), "node"]
        return [
            *program,
            "--datadir",
            str(member.datadir),
            "--genesis",
            str(self.root / "genesis.json"),
            "--key",
            str(member.datadir / "node.key"),
            "--role",
            member.role,
            "--listen",
            f"/ip4/127.0.0.1/tcp/{member.port}",
            "--block-interval",
            str(self.config.block_interval_s),
            "--round-wait",
            str(self.config.round_wait_s),
            *self.config.extra_args,
            "--bootstrap",
            *others,
        ]

    def start(self, name: str) -> None:
        member = self.members[name]
        if member.process is not None and member.process.poll() is None:
            return
        member.log_file = open(member.datadir / "node.log", "ab")
        member.process = subprocess.Popen(
            self.command(member),
            stdout=member.log_file,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Stop one node abruptly (SIGKILL by default: nothing is flushed but what was committed)."""
        member = self.members[name]
        if member.process is None:
            return
        if member.process.poll() is None:
            member.process.send_signal(sig)
            try:
                member.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()
        if member.log_file is not None:
            member.log_file.close()
        member.process = None

    def close(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL), and remove a temporary folder."""
        running = [m for m in self.members.values() if m.process is not None and m.process.poll() is None]
        for m in running:
            m.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + STOP_GRACE_S
        for m in running:
            try:
                m.process.wait(max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                m.process.kill()  # type: ignore[union-attr]
                m.process.wait()  # type: ignore[union-attr]
        for m in self.members.values():
            if m.log_file is not None:
                m.log_file.close()
            m.process = None
        if self._temporary and not os.environ.get("POT_KEEP_DEVNET"):
            shutil.rmtree(self.root, ignore_errors=True)

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Wait until every running node has written its first status (its host listens)."""
        running = [n for n, m in self.members.items() if m.process is not None]
        self.wait_for(lambda: all(self.status(n) for n in running), timeout_s=timeout_s, poll_s=0.5)

    # ------------------------------------------------------------------ the task

    def task_post(self) -> TaskPost:
        assert self.genesis is not None
        unsigned = TaskPost(
            chain_id=self.genesis.params.chain_id,
            sender=self.requester.public_key,
            nonce=0,
            spec=self.spec,
            fee_per_round=FEE_PER_ROUND,
            fee=TX_FEE,
            signature=NO_SIGNATURE,
        )
        return unsigned.signed_by(self.requester)

    def post_task(self, timeout_s: float = 120.0) -> bytes:
        """The requester posts the default task; returns its id once a validator's chain holds it."""
        post = self.task_post()
        self.task_id = post.tx_id
        deadline = time.monotonic() + timeout_s
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            # a fresh peer identity per attempt: a peer that reconnects under the id of a half-closed
            # connection can wait a long time for the nodes' GossipSub to graft it again
            key_path = self.root / f"requester-{attempt}.p2p.key"
            try:
                client.publish(post.chain_id, self.bootstrap, [post], key_path, mesh_timeout_s=20)
            except Exception as exc:  # noqa: BLE001 - no mesh yet: try again until the deadline
                print(f"posting the task failed ({exc!r}); retrying", file=sys.stderr)
                continue
            if self.wait_for(lambda: self.task_status("v0") is not None, timeout_s=15, poll_s=0.5, fail=False):
                return post.tx_id
        raise TimeoutError("the task post never reached the chain")

    # ------------------------------------------------------------------ observing

    def status(self, name: str) -> dict[str, Any] | None:
        return read_status(self.members[name].datadir)

    def task_status(self, name: str) -> dict[str, Any] | None:
        st = self.status(name)
        if st is None or self.task_id is None:
            return None
        return next((t for t in st["tasks"] if t["task_id"] == self.task_id.hex()), None)

    def wait_for(
        self, condition: Callable[[], Any], timeout_s: float = 120.0, poll_s: float = 1.0, fail: bool = True
    ) -> Any:
        """Poll `condition` until it is truthy; raise TimeoutError (or return None with fail=False)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = condition()
            except (KeyError, TypeError, ValueError):
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                if fail:
                    raise TimeoutError(f"condition not met in {timeout_s:.0f} s")
                return None
            self.check_alive()
            time.sleep(poll_s)

    def check_alive(self) -> None:
        for m in self.members.values():
            if m.process is not None and m.process.poll() is not None:
                raise RuntimeError(f"node {m.name} exited with {m.process.returncode}; see {m.datadir / 'node.log'}")

    def line(self) -> str:
        """One progress line: height, task round and validation loss, miners' balances."""
        st = self.status("v0") or {}
        task = self.task_status("v0") or {}
        miners = [
            f"{n}={(self.status(n) or {}).get('balance', 0) / GRAINS_PER_POT:.2f}"
            for n, m in self.members.items()
            if m.role == "miner"
        ]
        loss = task.get("validation_loss")
        return (
            f"height {st.get('height', '?')}  round {task.get('round', '-')}/{task.get('rounds', '-')}  "
            f"val loss {loss if loss is None else round(loss, 4)}  rewards POT {' '.join(miners)}"
        )

    def watch(self, out: Callable[[str], None], every_s: float = 2.0) -> None:
        """Print a progress line every `every_s` until Ctrl-C."""
        try:
            while True:
                self.check_alive()
                out(self.line())
                time.sleep(every_s)
        except KeyboardInterrupt:
            out("stopping the devnet")
