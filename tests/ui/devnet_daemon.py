"""A real `potminer daemon` process on a one-validator devnet, for the window's tests, screenshots and bench.

The devnet (one validator process) posts the demo task (digits MLP, short rounds, many of them) from its
funded requester key; the daemon runs a full node bootstrapped to it, with no wallet: the window's wizard
(or `create_wallet`) makes one. Mining starts switched off (`mode = "never"`), so the window's switch is
what starts it; rounds are slowed by a 50 % duty cycle so progress is visible and the CPU shared.

    with DevnetDaemon(tmp / "run") as dd:
        dd.data_dir        # give it to GuiApp
        dd.rpc("status")   # the daemon's own answers, to compare with the window's
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil

from app.node.devnet import Devnet, DevnetConfig
from tests.daemon.daemon_proc import rpc, start_daemon, stop_daemon, wait_for, write_config

PASSWORD = "correct horse battery"
CONFIG = """
[mining]
mode = "never"
pause_on_battery = false
cpu_threads = 1
utilization_cap = 50

[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
mdns = false
"""


class DevnetDaemon:
    def __init__(self, root: Path, *, local_steps: int = 64, rounds: int = 1000) -> None:
        self.root = Path(root)
        self.data_dir = self.root / "daemon"
        self.devnet = Devnet(
            DevnetConfig(
                validators=1,
                miners=0,
                post_task=True,
                datadir=self.root / "net",
                rounds=rounds,
                local_steps=local_steps,
                checkpoint_interval=16,
                batch_size=32,
                round_wait_s=1.0,
            )
        )
        self.proc: Any = None

    def __enter__(self) -> DevnetDaemon:
        self.devnet.__enter__()
        try:
            write_config(self.data_dir, CONFIG)
            self.proc = start_daemon(
                self.data_dir,
                "--genesis",
                str(self.devnet.root / "genesis.json"),
                "--bootstrap",
                *self.devnet.bootstrap,
            )
            wait_for(lambda: (self.rpc("status")["node"] or {}).get("open_tasks"), 60, "the task to reach the daemon")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            stop_daemon(self.proc)
            self.proc = None
        self.devnet.close()

    def rpc(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return rpc(self.data_dir, method, params)

    def pids(self) -> set[int]:
        """This devnet's processes and all their descendants (the daemon's training worker included)."""
        roots = [m.process.pid for m in self.devnet.members.values() if m.process is not None]
        if self.proc is not None:
            roots.append(self.proc.pid)
        found: set[int] = set()
        for pid in roots:
            try:
                proc = psutil.Process(pid)
                found.add(pid)
                found.update(c.pid for c in proc.children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        return found

    # -- shortcuts for tests that do not go through the wizard -----------------------------------
    def ensure_wallet(self) -> dict[str, str]:
        """The wallet's addresses, creating it with PASSWORD if the wizard has not."""
        if not self.rpc("status")["wallet"]["exists"]:
            self.rpc("wallet.create", {"password": PASSWORD, "words": 12})
        return self.rpc("wallet.address")["addresses"]

    def wait_reward(self, timeout_s: float = 120.0) -> int:
        """Mine (if not already) until the wallet holds rewards; returns the total in grains."""
        self.ensure_wallet()
        if self.rpc("mine.state")["state"] != "mining":
            self.rpc("mine.start", {"mode": "always"})
        return wait_for(lambda: self.rpc("wallet.balance")["total"], timeout_s, "a reward")

    def wait_training(self, timeout_s: float = 60.0, min_points: int = 2) -> dict[str, Any]:
        """Until a round is training with a loss curve of `min_points` points; returns `mine.state`."""

        def ready() -> dict[str, Any] | None:
            state = self.rpc("mine.state")
            return state if state["state"] == "mining" and len(state["loss_curve"]) >= min_points else None

        return wait_for(ready, timeout_s, "a round training", poll_s=0.3)
