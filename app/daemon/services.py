"""What RPC handlers may use: `Services`, built by the daemon (app/daemon/daemon.py) and passed to
`register_all` (app/daemon/handlers.py).

Its own module so the handlers and the daemon do not import each other: the daemon imports the handlers
only to register them, and the handlers import this. Light to import: the node port (which pulls in torch
and libp2p) is named for the type checker only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import config as cfg
from app.daemon.events import EventBus
from app.daemon.handlers_errors import offline
from app.daemon.mining import MiningService
from app.daemon.wallet_service import WalletService
from app.log import LoggingSetup
from app.miner.policy import Mode, Preferences
from app.miner.schedule import WeeklySchedule, parse as parse_schedule

if TYPE_CHECKING:
    from app.daemon.light_port import LightPort
    from app.daemon.node_port import NodePort
    from app.daemon.reach import ReachWatcher

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What RPC handlers may use; built by `Daemon`, passed to `register_all`."""

    config: cfg.Config
    paths: cfg.Paths
    bus: EventBus
    logging: LoggingSetup
    wallet: WalletService
    mining: MiningService
    node: NodePort | LightPort | None  # a full or a light node; None with --offline
    request_stop: Callable[[str], None]  # ends the daemon, with the reason it logs and tells clients
    request_restart: Callable[[str], None] | None = None  # ends it and starts it again (`potminer daemon`)
    started: float = field(default_factory=time.monotonic)
    reach: ReachWatcher | None = None  # whether the node reached its network (app/daemon/reach.py)

    def require_node(self) -> NodePort | LightPort:
        if self.node is None:
            raise offline()
        return self.node

    def update_config(self, section: str, values: dict[str, Any]) -> None:
        """Change keys of one section: checked like the file is, saved atomically, applied where live."""
        self.config = checked_config(self.config, section, values, self.paths.config_file)
        cfg.save(self.config, self.paths.config_file)
        if section == "mining":
            self.mining.set_preferences(preferences(self.config.mining))
        if section == "ui" and "start_at_login" in values:
            self._apply_start_at_login()

    def _apply_start_at_login(self) -> None:
        """The setting did nothing before (issue 16): write or remove the OS's login entry now."""
        from app.daemon import autostart

        default_config = self.paths.config_file == cfg.config_file(None)
        command = autostart.login_command(None if default_config else self.paths.config_file.parent)
        try:
            log.info("%s", autostart.apply(self.config.ui.start_at_login, command, self.paths.log_dir))
        except OSError as exc:
            raise cfg.ConfigError(
                f"start at login could not be changed: {exc}; the setting is saved, "
                "try again or add PoT Miner to your desktop's startup programs"
            ) from None


def checked_config(config: cfg.Config, section: str, values: dict[str, Any], path: Path) -> cfg.Config:
    """`config` with `values` in `section`, type- and range-checked by the same rules as the file."""
    return cfg.updated(config, section, values, str(path))


def preferences(m: cfg.MiningConfig) -> Preferences:
    """The mining policy's preferences from the config's [mining] section."""
    return Preferences(
        mode=Mode(m.mode.value),
        idle_minutes=float(m.idle_minutes),
        pause_on_battery=m.pause_on_battery,
        schedule=parse_schedule(m.schedule) if m.schedule else WeeklySchedule(),
        max_gpu_temp_c=float(m.max_temperature_c),
        max_cpu_temp_c=float(m.max_temperature_c),
        disk_cap_bytes=int(m.disk_cap_gb * 1e9) if m.disk_cap_gb else None,
        exclusive_apps=tuple(a.strip() for a in m.pause_for_apps if a.strip()),
    )
