"""A stand-in for `potminer daemon` until the real one lands: the REAL RPC server, event bus, lockfile,
token file, wallet and config modules, with a small scripted chain and miner behind them.

What is real: app.daemon.rpc_server.RpcServer (framing, hello/token, errors, subscriptions), EventBus,
DaemonLock + token file (so the window finds it exactly as it will find the daemon), app.wallet.Wallet
(keystore encryption, seed phrase, password checks, exports), app.core.address (address checks) and
app.config (settings validation and atomic save). What is scripted: the chain (a block every
`block_s`), the training (real CPU work in this process: numpy matrix products, so the window competes
for the CPU as it will with a training daemon), rounds and rewards.

Run as a process (what the window, the screenshots and the bench attach to):
    python -m tests.ui.standin_daemon --datadir DIR [--mine] [--history N]
The method names and result fields follow app/ui/api.py; see the report of issue 7 for the requests
made to the daemon's author.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import signal
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from app import __version__
from app import config as cfg
from app.core.address import decode_address
from app.core.errors import InvalidAddress
from app.daemon.events import EventBus, LogLine, MiningState, NewBlock, ReceiptVerified, Reward, RoundStarted
from app.daemon.lock import DaemonLock
from app.daemon.rpc_server import RpcServer
from app.rpc.auth import write_token_file
from app.rpc.endpoint import default_endpoint
from app.rpc.protocol import RpcError
from app.rpc.schema import Param
from app.wallet import export as wexport
from app.wallet.errors import InvalidMnemonic, KeystoreExists, WeakPassword, WrongPassword
from app.wallet.keystore import ScryptParams
from app.wallet.wallet import Wallet

HRP = "potd"
GRAIN = 10**9
REWARD = 12_500_000_000
FAST_KDF = ScryptParams(log2_n=10, r=8, p=1)  # test-only cost; the real daemon uses the default
WRONG_PASSWORD, INVALID_ADDRESS, INSUFFICIENT_FUNDS, NO_WALLET = 1001, 1002, 1003, 1004
TASKS = [("mnist-mlp", "Digits MLP (demo)"), ("tiny-lm", "Tiny text model (demo)")]


def _err(code: int, message: str) -> RpcError:
    return RpcError(code, message)


class StandInDaemon:
    def __init__(self, data_dir: Path, *, block_s: float = 0.5, step_s: float = 0.05, steps_per_round: int = 40,
                 work: int = 160) -> None:
        self.data_dir = Path(data_dir)
        self.block_s, self.step_s, self.steps_per_round, self.work = block_s, step_s, steps_per_round, work
        self.bus = EventBus()
        self.lock = threading.RLock()
        self.wallet: Wallet | None = None
        wallet_path = self.data_dir / "wallet.json"
        if wallet_path.exists():
            self.wallet = Wallet(wallet_path, HRP)
        self.config_path = cfg.config_file(self.data_dir)
        self.config, _ = cfg.load(self.config_path)
        self.height, self.balance, self.history = 0, 0, []  # type: tuple[int, int, list[dict[str, Any]]]
        self.state, self.reason = "off", "Mining is off: press Start to begin."
        self.round, self.step, self.task = 0, 0, TASKS[0]
        self.curve: list[list[float]] = []
        self.throughput = 0.0
        self.logs: list[dict[str, Any]] = []
        self._log_seq = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock_file = DaemonLock(self.data_dir)
        self.server: RpcServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file.acquire()
        token = write_token_file(self.data_dir)
        self.server = RpcServer(default_endpoint(self.data_dir), token, self.bus)
        self._register(self.server)
        self._lock_file.publish_endpoint(self.server.start())
        for target in (self._chain_loop, self._miner_loop):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        self.log("INFO", "app.daemon", f"stand-in daemon {__version__} started on {self.data_dir}")

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        if self.server is not None:
            self.server.stop()
        self._lock_file.release()

    def __enter__(self) -> StandInDaemon:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripted chain and miner -------------------------------------------------------------
    def log(self, level: str, logger: str, message: str) -> None:
        with self.lock:
            self._log_seq += 1
            line = {"seq": self._log_seq, "time": time.time(), "level": level, "logger": logger, "message": message}
            self.logs = (self.logs + [line])[-2000:]
        self.bus.publish(LogLine(**line))

    def set_state(self, state: str, reason: str) -> None:
        with self.lock:
            self.state, self.reason = state, reason
        self.bus.publish(MiningState(state, reason))
        self.log("INFO", "app.miner.controller", f"mining {state}: {reason}")

    def _chain_loop(self) -> None:
        while not self._stop.wait(self.block_s):
            with self.lock:
                self.height += 1
                height = self.height
            self.bus.publish(NewBlock(height, f"{height:064x}", int(time.time()), 0))

    def _miner_loop(self) -> None:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((self.work, self.work)).astype(np.float32)
        while not self._stop.wait(self.step_s):
            with self.lock:
                if self.state != "mining":
                    continue
            started = time.perf_counter()
            for _ in range(4):  # real CPU work, as a training step would be
                a = np.tanh(a @ a.T / self.work)
            with self.lock:
                self.step += 1
                self.throughput = 32 / max(time.perf_counter() - started, 1e-6)
                if self.step % 5 == 0:
                    loss = 2.3 * math.exp(-(self.round * self.steps_per_round + self.step) / 120) + 0.1
                    self.curve.append([float(self.step), round(loss, 4)])
                done = self.step >= self.steps_per_round
            if done:
                self._finish_round()

    def _begin_round(self) -> None:
        with self.lock:
            self.round += 1
            self.step, self.curve = 0, []
            self.task = TASKS[(self.round - 1) % len(TASKS)]
            rnd, task_id = self.round, self.task[0]
        self.bus.publish(RoundStarted(rnd, task_id))
        self.log("INFO", "app.miner.loop", f"round {rnd} started on task {task_id}")

    def _finish_round(self) -> None:
        assert self.wallet is not None
        with self.lock:
            task_id, height = self.task[0], self.height
        self.bus.publish(ReceiptVerified(f"r{self.round:08x}", task_id, self.wallet.reward_address, True))
        self.credit_reward(REWARD, task_id, height)
        self._begin_round()

    def credit_reward(self, amount: int, task_id: str, height: int, when: float | None = None) -> None:
        assert self.wallet is not None
        with self.lock:
            self.balance += amount
            self.history.append({"height": height, "time": when or time.time(), "kind": "reward", "amount": amount,
                                 "fee": 0, "counterparty": "", "reference": task_id, "memo": "training reward"})
        self.bus.publish(Reward(self.wallet.reward_address, amount, height, task_id))
        self.log("INFO", "app.wallet", f"reward of {amount / GRAIN:g} POT for task {task_id} at height {height}")

    def seed_history(self, days: int, per_day: int = 3) -> None:
        """Past rewards over `days` days (screenshots and the earnings chart)."""
        now = time.time()
        for d in range(days, 0, -1):
            for k in range(per_day + d % 3):
                self.credit_reward(REWARD // (1 + k % 2), TASKS[(d + k) % 2][0], max(1, 1000 - d * 10 - k),
                                   when=now - d * 86400 + k * 3600)

    # -- RPC ------------------------------------------------------------------------------------
    def _register(self, s: RpcServer) -> None:
        s.register("status", self.rpc_status)
        s.register("mine.state", self.rpc_mining_state)
        s.register("mine.start", self.rpc_mining_start)
        s.register("mine.pause", self.rpc_mining_pause)
        s.register("mine.resume", self.rpc_mining_start)
        s.register("mining.devices", lambda: [
            {"id": "cpu", "name": "CPU (2 threads)", "kind": "cpu", "memory_bytes": 8 << 30}])
        s.register("wallet.create", self.rpc_wallet_create, {"password": Param(str), "words": Param(int, default=12)})
        s.register("wallet.restore", self.rpc_wallet_restore,
                   {"phrase": Param(str), "password": Param(str), "passphrase": Param(str, default="")})
        s.register("wallet.address", self.rpc_wallet_address)
        s.register("wallet.balance", self.rpc_wallet_balance)
        s.register("wallet.check_address", self.rpc_check_address, {"address": Param(str)})
        s.register("wallet.fee_estimate", lambda memo="": {"fee": 1_000 + 10 * len(memo.encode())},
                   {"memo": Param(str, default="")})
        s.register("wallet.send", self.rpc_wallet_send, {
            "to": Param(str), "amount": Param(int, min=1), "fee": Param(int, min=0), "password": Param(str),
            "memo": Param(str, default="")})
        s.register("wallet.history", lambda limit=1000: self.history[-limit:], {"limit": Param(int, default=1000)})
        s.register("wallet.export", self.rpc_wallet_export, {
            "kind": Param(str, choices=frozenset({"phrase", "raw_key", "keystore"})), "password": Param(str),
            "path": Param(str, default="")})
        s.register("task.list", lambda: [{"task_id": t, "name": n, "fee": 10 * GRAIN, "rounds_left": 50} for t, n in TASKS])
        s.register("peers", lambda: [
            {"peer_id": f"12D3KooWPeer{i}", "address": f"/ip4/127.0.0.1/tcp/{4100 + i}", "direction": d,
             "height": self.height, "score": 1.0 - i / 10} for i, d in enumerate(["outbound", "inbound", "outbound"])])
        s.register("logs", lambda limit=500: self.logs[-limit:], {"limit": Param(int, default=500, min=1, max=2000)})
        s.register("config.get", lambda: _plain(dataclasses.asdict(self.config)))
        s.register("config.set", self.rpc_config_set, {"section": Param(str), "values": Param(dict)})

    def _need_wallet(self) -> Wallet:
        if self.wallet is None:
            raise _err(NO_WALLET, "no wallet yet: create or restore one first")
        return self.wallet

    def rpc_status(self) -> dict[str, Any]:
        w = self.wallet
        return {"version": __version__, "chain": "devnet", "node_mode": self.config.network.node_mode.value,
                "height": self.height, "peers": 3, "synced": True, "sync_progress": 1.0,
                "data_dir": str(self.data_dir), "committee": ["potd1validator0", "potd1validator1", "potd1validator2"],
                "wallet": {"exists": w is not None, "locked": True, "address": w.spending_address if w else ""}}

    def rpc_mining_state(self) -> dict[str, Any]:
        with self.lock:
            today = time.time() - 86400
            return {"state": self.state, "reason": self.reason, "task_id": self.task[0], "task_name": self.task[1],
                    "round": self.round, "step": self.step, "total_steps": self.steps_per_round,
                    "loss_curve": list(self.curve), "throughput": round(self.throughput, 1), "device": "cpu",
                    "device_load": 87.0 if self.state == "mining" else 3.0, "temperature_c": None,
                    "rewards_today": sum(h["amount"] for h in self.history if h["kind"] == "reward" and h["time"] > today)}

    def rpc_mining_start(self) -> dict[str, Any]:
        self._need_wallet()
        if self.state != "mining":
            self.set_state("mining", "Mining: training the current task.")
            self._begin_round()
        return self.rpc_mining_state()

    def rpc_mining_pause(self) -> dict[str, Any]:
        self.set_state("paused", "Paused by you.")
        return self.rpc_mining_state()

    def rpc_wallet_create(self, password: str, words: int) -> dict[str, Any]:
        try:
            self.wallet, phrase = Wallet.create(self.data_dir / "wallet.json", password, HRP, words=words, kdf=FAST_KDF)
        except (KeystoreExists, WeakPassword) as exc:
            raise _err(1000, str(exc)) from None
        return {"phrase": phrase, "address": self.wallet.spending_address}

    def rpc_wallet_restore(self, phrase: str, password: str, passphrase: str) -> dict[str, Any]:
        try:
            self.wallet = Wallet.restore(self.data_dir / "wallet.json", phrase, password, HRP, passphrase, kdf=FAST_KDF)
        except (KeystoreExists, WeakPassword, InvalidMnemonic) as exc:
            raise _err(1000, str(exc)) from None
        return {"address": self.wallet.spending_address}

    def rpc_wallet_address(self) -> dict[str, str]:
        return self._need_wallet().addresses()

    def rpc_wallet_balance(self) -> dict[str, int]:
        self._need_wallet()
        return {"spending": 0, "reward": self.balance, "total": self.balance}

    def rpc_check_address(self, address: str) -> dict[str, Any]:
        try:
            decode_address(address, HRP)
        except (InvalidAddress, ValueError) as exc:
            return {"valid": False, "reason": str(exc)}
        return {"valid": True, "reason": ""}

    def rpc_wallet_send(self, to: str, amount: int, fee: int, password: str, memo: str) -> dict[str, str]:
        wallet = self._need_wallet()
        check = self.rpc_check_address(to)
        if not check["valid"]:
            raise _err(INVALID_ADDRESS, f"not a valid address: {check['reason']}")
        try:
            wallet.decrypt(password)
        except WrongPassword:
            raise _err(WRONG_PASSWORD, "wrong password") from None
        with self.lock:
            if amount + fee > self.balance:
                raise _err(INSUFFICIENT_FUNDS, f"amount plus fee exceeds the balance of {self.balance / GRAIN:g} POT")
            self.balance -= amount + fee
            tx_id = f"{len(self.history):064x}"
            self.history.append({"height": self.height, "time": time.time(), "kind": "sent", "amount": -(amount + fee),
                                 "fee": fee, "counterparty": to, "reference": tx_id, "memo": memo})
        return {"tx_id": tx_id}

    def rpc_wallet_export(self, kind: str, password: str, path: str) -> dict[str, str]:
        wallet = self._need_wallet()
        try:
            if kind == "phrase":
                phrase, passphrase = wexport.export_phrase(wallet, password)
                return {"phrase": phrase, "passphrase": passphrase}
            if kind == "raw_key":
                return {"raw_key": wexport.export_raw_key(wallet, password)}
            if not path:
                raise _err(1000, "give the path to write the keystore file to")
            wexport.export_keystore(wallet, password, path)
            return {"path": path}
        except WrongPassword:
            raise _err(WRONG_PASSWORD, "wrong password: nothing was exported") from None

    def rpc_config_set(self, section: str, values: dict[str, Any]) -> dict[str, Any]:
        hints = {f.name: f for f in dataclasses.fields(cfg.Config)}
        if section not in hints:
            raise _err(1000, f"unknown settings section {section!r}")
        try:
            sec_type = type(getattr(self.config, section))
            converted = {k: cfg._convert(__import__("typing").get_type_hints(sec_type)[k], v, f"[{section}] {k}")
                         for k, v in values.items()}
            new = cfg.with_changes(self.config, section, **converted)
            cfg.save(new, self.config_path)
        except (cfg.ConfigError, KeyError, TypeError) as exc:
            raise _err(1000, f"setting not saved: {exc}") from None
        self.config = new
        return _plain(dataclasses.asdict(new))


def _plain(obj: Any) -> Any:
    if isinstance(obj, StrEnum):
        return obj.value
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datadir", type=Path, required=True)
    ap.add_argument("--create-wallet", metavar="PASSWORD", help="create a wallet first (screenshots, bench)")
    ap.add_argument("--mine", action="store_true", help="start mining at once")
    ap.add_argument("--history-days", type=int, default=0, help="past rewards over this many days")
    args = ap.parse_args()
    daemon = StandInDaemon(args.datadir)
    daemon.start()
    if args.create_wallet and daemon.wallet is None:
        daemon.rpc_wallet_create(args.create_wallet, 12)
    if args.history_days:
        daemon.seed_history(args.history_days)
    if args.mine:
        daemon.rpc_mining_start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    daemon.stop()


if __name__ == "__main__":
    main()
