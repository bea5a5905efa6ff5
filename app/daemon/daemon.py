"""The daemon's composition root: config, lock, logging, event bus, RPC, wallet, miner and node.

Everything is built here and passed explicitly (no singletons). The node's event loop owns the main
thread (it installs the SIGINT/SIGTERM handlers); the RPC server, the mining service and the block
watcher run on their own threads and reach the node only through `NodePort`. Shutdown is ordered:
node loop ends -> RPC says "closing" -> mining pauses (saving the round) and stops its worker ->
lockfile released. `--offline` runs everything but the node (tests and wallet-only use).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import config as cfg
from app.daemon import events as ev
from app.daemon.disk import DiskKeeper, DiskMeter
from app.daemon.events import EventBus
from app.daemon.gpu_temp import cpu_temperature_source, gpu_temperature_source
from app.daemon.handlers import register_all
from app.daemon.lock import DaemonLock
from app.daemon.mining import MiningHooks, MiningService, settings_for
from app.daemon.permissions import secure_private_paths
from app.daemon.rpc_server import RpcServer
from app.daemon.services import Services, preferences
from app.daemon.wallet_service import KEYSTORE, WalletService
from app.daemon.watcher import BlockWatcher
from app.log import setup_logging
from app.miner import worker as w
from app.miner.apps import ExclusiveApps
from app.miner.idle import IdleSource, detect_idle_source
from app.miner.policy import Clock, GateSources, SystemClock
from app.miner.power import PsutilPower
from app.rpc.auth import write_token_file
from app.rpc.endpoint import default_endpoint

if TYPE_CHECKING:  # the node port pulls in torch and libp2p: built lazily, in _build_node
    from app.daemon.disk import BlobPruner
    from app.daemon.light_port import LightPort
    from app.daemon.node_port import NodePort
    from app.daemon.reach import ReachWatcher

log = logging.getLogger(__name__)

PASSWORD_ENV = "POTMINER_PASSWORD"


@dataclass(frozen=True)
class DaemonOptions:
    """Command-line choices that override or complete the config file."""

    datadir: Path | None = None
    genesis: Path | None = None
    bootstrap: tuple[str, ...] = ()
    bootstrap_file: Path | None = None  # a newer bootstrap list (app/node/chainfiles.py checks it)
    listen: str | None = None  # /ip4/HOST/tcp/PORT
    offline: bool = False
    password_file: Path | None = None
    console_log: bool = False
    log_level: str = "INFO"
    block_interval_s: float = 1.0


def device_settings(m: cfg.MiningConfig) -> w.DeviceSettings:
    return w.DeviceSettings(
        preference=m.device,
        memory_fraction=m.gpu_memory_fraction,
        cpu_threads=m.cpu_threads or None,
        duty_cycle=m.utilization_cap / 100,
    )


def practice_validators() -> int:
    """How many validators the practice network the daemon creates has (4; tests ask for fewer with
    POTMINER_PRACTICE_VALIDATORS, 1 to 4). An existing practice network keeps its own."""
    from app.node.local_devnet import VALIDATORS

    try:
        return min(VALIDATORS, max(1, int(os.environ.get("POTMINER_PRACTICE_VALIDATORS", VALIDATORS))))
    except ValueError:
        return VALIDATORS


def prune_grace_s() -> float:
    """How old an unpinned blob must be before pruning (app/daemon/disk.py); $POTMINER_PRUNE_GRACE_S
    shortens it for tests and measurements."""
    from app.daemon.disk import DEFAULT_GRACE_S

    try:
        return max(1.0, float(os.environ.get("POTMINER_PRUNE_GRACE_S", DEFAULT_GRACE_S)))
    except ValueError:
        return DEFAULT_GRACE_S


def read_password(options: DaemonOptions) -> str | None:
    """A password for unattended unlock at start: --password-file, else $POTMINER_PASSWORD."""
    if options.password_file is not None:
        return options.password_file.read_text(encoding="utf-8").rstrip("\r\n")
    return os.environ.get(PASSWORD_ENV) or None


class Daemon:
    """Build with options (and, for tests, an idle source, clock and GPU temperature source), then `run()`
    until stopped. `gpu_temp` defaults to NVML for the configured device, cached (app/daemon/gpu_temp.py)."""

    def __init__(
        self,
        options: DaemonOptions,
        idle: IdleSource | None = None,
        clock: Clock | None = None,
        gpu_temp: Callable[[], float | None] | None = None,
    ) -> None:
        self.options = options
        config_path = cfg.config_file(options.datadir)
        self.config, warnings = cfg.load(config_path)
        self.paths = cfg.resolve_paths(self.config, options.datadir)
        self.paths.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tightened = secure_private_paths(self.paths.data_dir, self.paths.log_dir, self.paths.data_dir / KEYSTORE)
        self.lock = DaemonLock(self.paths.data_dir)
        self.lock.acquire()  # before anything else touches the data folder
        self.logging = setup_logging(
            self.paths.log_dir, options.log_level, {"libp2p": "WARNING"}, console=options.console_log
        )
        for warning in warnings:
            log.warning("config: %s", warning)
        for fix in tightened:
            log.warning("permissions: %s", fix)
        self.bus = EventBus()
        self._stop = threading.Event()
        self._stop_reason = "daemon stopping"
        self.restart_requested = False  # `run_daemon` starts a fresh process after this one stops
        self.local_devnet: Any = None  # LocalDevnet when the daemon runs the app's own network
        self.node_port: NodePort | LightPort | None = None if options.offline else self._build_node()
        self.reach = self._reach_watcher()
        hrp = self.node_port.hrp if self.node_port is not None else self._offline_hrp()
        node_dir = self.paths.data_dir / "node"
        if self.node_port is not None:
            self.node_port.serve_dropped_checkpoints(node_dir / "mining-resume")
        self.disk = DiskKeeper(
            DiskMeter(self.paths.data_dir),
            self._pruner(node_dir / "mining-resume"),
            lambda: int(self.services.config.mining.disk_cap_gb * 1e9) or None,
            interval_s=min(60.0, max(1.0, prune_grace_s() / 2)),
        )
        self.mining = self._mining_service(idle, clock, gpu_temp, node_dir)
        self.wallet = WalletService(self.paths.data_dir, hrp, self._on_keys, self.logging.redactor.add_secret)
        self.token = write_token_file(self.paths.data_dir)
        self.logging.redactor.add_secret(self.token)
        self.server = RpcServer(
            default_endpoint(self.paths.data_dir, self.config.rpc.transport.value, self.config.rpc.tcp_port),
            self.token,
            self.bus,
            redact=self.logging.redactor.add_secret,
        )
        self.services = Services(
            self.config,
            self.paths,
            self.bus,
            self.logging,
            self.wallet,
            self.mining,
            self.node_port,
            self.request_stop,
            request_restart=self.request_restart,
            reach=self.reach,
        )
        register_all(self.server, self.services)
        self.watcher = BlockWatcher(self.node_port, self.bus, self.wallet.own_accounts) if self.node_port else None
        self._watch_wallet()
        self._remove_log_listener = self.logging.ring.add_listener(
            lambda e: self.bus.publish(ev.LogLine(e.seq, e.time, e.level, e.logger, e.message))
        )

    # -- building -------------------------------------------------------------------------------
    def _mining_service(
        self,
        idle: IdleSource | None,
        clock: Clock | None,
        gpu_temp: Callable[[], float | None] | None,
        node_dir: Path,
    ) -> MiningService:
        """The miner's controller, with the sources of every pause reason it weighs (idle, power, heat,
        programs, disk) and the limits the window shows."""
        cpu_temp = cpu_temperature_source()
        mining = MiningService(
            self.bus,
            preferences(self.config.mining),
            GateSources(
                idle=idle or detect_idle_source(),
                power=PsutilPower().read,
                gpu_temp_c=gpu_temp or gpu_temperature_source(self.config.mining.device),
                exclusive_app=ExclusiveApps().running,
                cpu_temp_c=cpu_temp,
                disk_used_bytes=self.disk.meter.used,
            ),
            clock or SystemClock(),
            self._hooks(),
            settings_for(
                self.node_port.blob_dir if self.node_port is not None else node_dir / "blobs",
                node_dir / "mining-resume",
                device_settings(self.config.mining),
            ),
            switched_on=self.config.mining.mode != cfg.MiningMode.NEVER,
        )
        mining.limits = lambda: self.disk.facts() | {"cpu_temperature_c": cpu_temp(), "island": self._island()}
        return mining

    def _pruner(self, resume_dir: Path) -> BlobPruner | None:
        """Prunes the node's blob store (app/daemon/disk.py says what is kept); None when offline."""
        port = self.node_port
        if port is None:
            return None
        from app.daemon.disk import BlobPruner, chain_pins, resume_pins, shipped_pins, trace_pins

        shipped, traces = shipped_pins(), port.trace_dir
        return BlobPruner(
            port.blob_store,
            lambda: (
                shipped
                | chain_pins(port.state, port.dataset_shards)
                | resume_pins(resume_dir)
                | (trace_pins(traces, port.state) if traces is not None else set())
            ),
            grace_s=prune_grace_s(),
        )

    def _build_node(self) -> NodePort | LightPort:
        from app.daemon.node_port import NodePort
        from app.daemon.node_setup import build_light_node, build_node

        options = self.options
        if self._wants_local_devnet():
            from dataclasses import replace

            from app.node.local_devnet import start_local_devnet

            # No public network yet: by default the daemon brings up the app's own local devnet
            # (created once in the data folder, reopened afterwards) and joins it.
            root = self.paths.data_dir / "local-devnet"
            self.local_devnet = start_local_devnet(root, practice_validators(), say=log.info)
            options = replace(
                options, genesis=root / "genesis.json", bootstrap=(*options.bootstrap, *self.local_devnet.bootstrap)
            )
        try:
            if cfg.effective_node_mode(self.config.network) == cfg.NodeMode.LIGHT:
                from app.daemon.light_port import LightPort

                log.info("node mode: light (headers and proofs only; see docs/DAEMON.md)")
                return LightPort(build_light_node(self.config, self.paths.data_dir / "light", options))
            return NodePort(build_node(self.config, self.paths.data_dir / "node", options))
        except BaseException:
            if self.local_devnet is not None:
                self.local_devnet.close()
            raise

    def _reach_watcher(self) -> ReachWatcher | None:
        """Watches that the node reached its network; the practice network (a devnet) always has."""
        if self.node_port is None:
            return None
        from app.daemon.reach import ReachWatcher

        port = self.node_port
        chain = "devnet" if self.config.network.chain == cfg.Chain.DEVNET else self.config.network.chain.value
        return ReachWatcher(
            chain, port.bootstrap_count, lambda: sum(1 for p in port.peers() if p["connected"]), self.bus
        )

    def _island(self) -> bool:
        return self.reach is not None and self.reach.current.island

    def _offer(self, job: Any) -> None:
        """Rounds go to the miner only while the node is on its network: never mine silently on an island."""
        if self._island():
            log.info("round %s not mined: the network is not reached", getattr(job, "round", "?"))
            return
        self.mining.offer(job)

    def _wants_local_devnet(self) -> bool:
        """The devnet chain with no genesis given anywhere: the default of a fresh install."""
        network = self.config.network
        return network.chain == cfg.Chain.DEVNET and self.options.genesis is None and not network.genesis_file

    def _offline_hrp(self) -> str:
        from app.core.params import DEVNET, TESTNET

        return (TESTNET if self.config.network.chain == cfg.Chain.TESTNET else DEVNET).address_hrp

    def _hooks(self) -> MiningHooks:
        port = self.node_port
        if port is None:
            return MiningHooks(prepare=lambda job: None, publish=lambda r, t: None, is_open=lambda job: False)
        return MiningHooks(
            prepare=port.ensure_task_data,
            publish=port.publish_receipt,
            is_open=port.is_open,
            manifest=port.dataset_manifest,
        )

    def _on_keys(self, key: Any) -> None:
        self.mining.set_key(key)
        if key is not None and self.node_port is not None:
            self.node_port.install_miner(key, self._offer)
        self._watch_wallet()

    def _watch_wallet(self) -> None:
        """A light node proves, with every head, the accounts the window shows: the wallet's."""
        wallet = getattr(self, "wallet", None)  # None while the wallet service itself is being built
        if wallet is None or self.node_port is None or self.node_port.mode != "light":
            return
        from app.daemon.light_port import LightPort

        assert isinstance(self.node_port, LightPort)
        self.node_port.watch(wallet.own_accounts())

    # -- running --------------------------------------------------------------------------------
    def request_restart(self, reason: str = "restarting") -> None:
        """Stop, then have `potminer daemon` start again in a fresh process (`restart_requested`): the way
        network settings (chain, genesis, bootstrap, node mode) take effect, which nothing can swap live."""
        self.restart_requested = True
        self.request_stop(reason)

    def request_stop(self, reason: str = "daemon stopping") -> None:
        self._stop_reason = reason
        self._stop.set()
        if self.node_port is not None:
            self.node_port.stop()

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM or the `stop` method; returns the exit status."""
        try:
            self.mining.start()
            self.disk.start()
            self._unlock_at_start()
            self.lock.publish_endpoint(self.server.start())
            if self.watcher is not None:
                self.watcher.start()
            if self.reach is not None:
                self.reach.start()
            log.info("daemon ready on %s (data in %s)", self.server.endpoint, self.paths.data_dir)
            if self.node_port is not None:
                self.node_port.run()  # main thread; returns on SIGINT/SIGTERM or request_stop
            else:
                self._wait_for_signal()
            return 0
        finally:
            self.shutdown()

    def _unlock_at_start(self) -> None:
        resumed = self.wallet.exists and self.wallet.resume()  # the kept reward key: mining needs no password
        password = read_password(self.options)
        if password is None or not self.wallet.exists:
            if self.wallet.exists and not resumed:
                log.info("wallet locked and no reward key kept for unattended mining: unlock it once to mine")
            return
        try:
            self.wallet.unlock(password)
            log.info("wallet unlocked at start for unattended mining")
        except Exception as exc:  # a wrong password must not stop the daemon: say so, stay locked
            log.warning("could not unlock the wallet at start: %s", exc)
            self.bus.publish(ev.DaemonWarning(message=f"wallet not unlocked: {exc}", source="wallet"))

    def _wait_for_signal(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stop.set())
        while not self._stop.wait(0.5):
            pass

    def shutdown(self) -> None:
        log.info("daemon stopping: %s", self._stop_reason)
        if self.watcher is not None:
            self.watcher.stop()
        if self.reach is not None:
            self.reach.stop()
        self.server.stop(self._stop_reason)
        self.disk.stop()
        self.mining.stop()
        self._remove_log_listener()
        if self.local_devnet is not None:
            self.local_devnet.close()
        self.lock.release()
        log.info("daemon stopped")
        self.logging.close()
