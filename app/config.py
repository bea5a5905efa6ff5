"""Typed settings, loaded from and saved to a TOML file (Electrum's ConfigVar idea, as dataclasses).

Where things live: the platform's folders (platformdirs) by default; `--datadir DIR` puts config, data
and logs all under DIR. Unknown keys become warnings (a newer version may have written them); wrong
types and out-of-range values are errors naming the key and the file. Saving is atomic.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, get_type_hints

import platformdirs
import tomli_w

from app.fsutil import write_atomic

APP_NAME = "potminer"
CONFIG_NAME = "config.toml"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


class MiningMode(StrEnum):
    ALWAYS = "always"
    WHEN_IDLE = "when-idle"
    NEVER = "never"


class Chain(StrEnum):
    DEVNET = "devnet"
    TESTNET = "testnet"


class NodeMode(StrEnum):
    AUTO = "auto"  # light on the shared test network (a volunteer's default), full on the practice network
    FULL = "full"
    LIGHT = "light"


def effective_node_mode(network: "NetworkConfig") -> NodeMode:
    """The mode the daemon runs: `auto` means light for volunteers on the test network, and full on the
    practice network, whose validators run beside the daemon on the same machine."""
    if network.node_mode != NodeMode.AUTO:
        return network.node_mode
    return NodeMode.LIGHT if network.chain == Chain.TESTNET else NodeMode.FULL


class Theme(StrEnum):
    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


class RpcTransport(StrEnum):
    AUTO = "auto"  # Unix socket on POSIX, loopback TCP on Windows
    UNIX = "unix"
    TCP = "tcp"


@dataclass
class MiningConfig:
    mode: MiningMode = MiningMode.WHEN_IDLE
    idle_minutes: int = 5
    pause_on_battery: bool = True
    schedule: str = ""  # empty: any time; syntax in app/miner/schedule.py
    device: str = "auto"  # auto, cpu, cuda:N, mps
    gpu_memory_fraction: float = 0.8
    utilization_cap: int = 100  # percent
    cpu_threads: int = 0  # 0: let the miner choose
    max_temperature_c: int = 83  # GPU, and CPU where the OS exposes its temperature
    disk_cap_gb: float = 5.0  # the data folder's cap (mining pauses at it); 0: no cap
    pause_for_apps: list[str] = field(default_factory=list)  # pause while any of these programs runs

    def check(self) -> list[str]:
        problems = []
        if not 0 <= self.disk_cap_gb <= 100_000:
            problems.append("disk_cap_gb must be between 0 (no cap) and 100000")
        if any(not isinstance(a, str) or not a.strip() or len(a) > 200 for a in self.pause_for_apps):
            problems.append("pause_for_apps must list program names (text, at most 200 characters each)")
        if not 1 <= self.idle_minutes <= 24 * 60:
            problems.append("idle_minutes must be between 1 and 1440")
        if not 0.05 <= self.gpu_memory_fraction <= 1.0:
            problems.append("gpu_memory_fraction must be between 0.05 and 1.0")
        if not 1 <= self.utilization_cap <= 100:
            problems.append("utilization_cap must be between 1 and 100")
        if not 0 <= self.cpu_threads <= 1024:
            problems.append("cpu_threads must be between 0 and 1024")
        if not 40 <= self.max_temperature_c <= 100:
            problems.append("max_temperature_c must be between 40 and 100")
        if self.schedule:
            from app.miner.schedule import ScheduleError, parse

            try:
                parse(self.schedule)
            except ScheduleError as exc:
                problems.append(f"schedule: {exc}")
        return problems


@dataclass
class NetworkConfig:
    chain: Chain = Chain.DEVNET
    node_mode: NodeMode = NodeMode.AUTO
    # Private by default: only this machine can connect. Opening the node to the LAN or the internet
    # is the user's choice (e.g. "/ip4/0.0.0.0/tcp/4001"); peers are found through bootstrap_peers.
    listen: list[str] = field(default_factory=lambda: ["/ip4/127.0.0.1/tcp/0"])
    bootstrap_peers: list[str] = field(default_factory=list)
    genesis_file: str = ""  # a locally generated devnet's genesis; empty: the chain's shipped one

    def check(self) -> list[str]:
        return [
            f"listen address {a!r} must be a multiaddr starting with '/'" for a in self.listen if not a.startswith("/")
        ]


@dataclass
class UiConfig:
    theme: Theme = Theme.SYSTEM
    close_to_tray: bool = True
    start_at_login: bool = False

    def check(self) -> list[str]:
        return []


@dataclass
class RpcConfig:
    transport: RpcTransport = RpcTransport.AUTO
    tcp_port: int = 0  # 0: a random free port, published in the lockfile

    def check(self) -> list[str]:
        return [] if 0 <= self.tcp_port <= 65535 else ["tcp_port must be between 0 and 65535"]


@dataclass
class PathsConfig:
    """Optional overrides of the platform folders; empty means the default. `--datadir` beats both."""

    data_dir: str = ""
    log_dir: str = ""

    def check(self) -> list[str]:
        return []


@dataclass
class Config:
    mining: MiningConfig = field(default_factory=MiningConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    rpc: RpcConfig = field(default_factory=RpcConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


@dataclass(frozen=True)
class Paths:
    """Resolved folders for this run."""

    config_file: Path
    data_dir: Path
    log_dir: Path


def config_file(datadir: Path | None = None) -> Path:
    """Where the TOML lives: under `datadir` when given, else in the platform's config folder."""
    if datadir is not None:
        return Path(datadir) / CONFIG_NAME
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / CONFIG_NAME


def resolve_paths(config: Config, datadir: Path | None = None) -> Paths:
    """Folders for this run; `--datadir` puts everything under one folder."""
    if datadir is not None:
        root = Path(datadir).expanduser().resolve()
        return Paths(root / CONFIG_NAME, root, root / "logs")
    data = config.paths.data_dir or platformdirs.user_data_dir(APP_NAME, appauthor=False)
    logs = config.paths.log_dir or platformdirs.user_log_dir(APP_NAME, appauthor=False)
    return Paths(config_file(None), Path(data).expanduser(), Path(logs).expanduser())


def load(path: Path) -> tuple[Config, list[str]]:
    """Read `path` (defaults when it does not exist); returns the config and warnings for unknown keys."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config(), []
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except ValueError as exc:  # e.g. an integer past Python's int-from-str digit limit
        raise ConfigError(f"{path}: not usable TOML: {str(exc)[:120]}") from None
    warnings: list[str] = []
    sections: dict[str, Any] = {}
    hints = get_type_hints(Config)
    for name, value in raw.items():
        if name not in hints:
            warnings.append(f"{path}: unknown section [{name}] ignored")
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
        sections[name] = _load_section(hints[name], value, f"{path}: [{name}]", warnings)
    config = Config(**sections)
    _check(config, path)
    return config, warnings


def _load_section(cls: type, table: dict[str, Any], where: str, warnings: list[str]) -> Any:
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in hints:
            warnings.append(f"{where} unknown key '{key}' ignored")
            continue
        values[key] = _convert(hints[key], value, f"{where} {key}")
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        choices = ", ".join(m.value for m in hint)
        if not isinstance(value, str) or value not in {m.value for m in hint}:
            raise ConfigError(f"{where} must be one of {choices}, got {_shown(value)}")
        return hint(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {_shown(value)}")
    elif hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{where} must be an integer, got {_shown(value)}")
    elif hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where} must be a number, got {_shown(value)}")
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{where} is out of range") from None
    elif hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {_shown(value)}")
    elif hint == list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, got {_shown(value)}")
    else:  # pragma: no cover - a field type this loader was not taught
        raise TypeError(f"config field type {hint!r} is not supported")
    return value


def _shown(value: Any) -> str:
    """A value as an error message quotes it: short, and never failing (a 5,000-digit int cannot be str'd)."""
    try:
        text = repr(value)
    except ValueError:
        return "an integer too long to show"
    return text if len(text) <= 80 else text[:77] + "..."


def _check(config: Config, path: Path) -> None:
    problems = [f"[{f.name}] {msg}" for f in fields(config) for msg in getattr(config, f.name).check()]
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))


def to_toml(config: Config) -> str:
    def plain(obj: Any) -> Any:
        if isinstance(obj, StrEnum):
            return obj.value
        if isinstance(obj, dict):
            return {k: plain(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [plain(v) for v in obj]
        return obj

    return tomli_w.dumps(plain(asdict(config)))


def save(config: Config, path: Path) -> None:
    """Check, then write atomically (a crash leaves the old file or the new one, never half of one)."""
    path = Path(path)
    _check(config, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, to_toml(config).encode("utf-8"), mode=0o600)


def updated(config: Config, section: str, values: Any, where: str = "config") -> Config:
    """`config` with `values` (JSON from `config.set`) in `section`, checked exactly like the file.

    Every wrong section, key, type (null included) or range is a ConfigError naming it, never another
    exception, so a client's mistake is answered as a bad config.
    """
    hints = get_type_hints(Config)
    if section not in hints:
        raise ConfigError(f"{where}: no section [{section}]; known: {', '.join(sorted(hints))}")
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: [{section}] values must be an object of keys")
    known = get_type_hints(hints[section])
    unknown = sorted(str(k) for k in values if k not in known)
    if unknown:
        raise ConfigError(f"[{section}] has no key {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    changes = {key: _convert(known[key], value, f"{where}: [{section}] {key}") for key, value in values.items()}
    new = with_changes(config, section, **changes)
    _check(new, Path(where))
    return new


def with_changes(config: Config, section: str, **changes: Any) -> Config:
    """A copy of `config` with some keys of one section changed (what the settings page saves)."""
    return replace(config, **{section: replace(getattr(config, section), **changes)})
