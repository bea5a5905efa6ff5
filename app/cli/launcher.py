"""`potminer run` (what `make run` starts): the local devnet, the daemon on it, and the window.

There is no public PoT network yet, so the app brings its own: a persistent local devnet (validators
and a background miner on 127.0.0.1, see `app.node.local_devnet`), a daemon whose node joins it and whose
wallet keeps the volunteer's keys, and the window attached to that daemon. Each runs in its own
process; this one only supervises them, prints the network's progress, and stops everything when the
window closes or on Ctrl-C. Without a display it runs headless and says how to reach the daemon.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from app import config as cfg
from app.resources import cli_command

DAEMON_START_TIMEOUT_S = 180.0
PROGRESS_EVERY_S = 10.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--datadir",
        type=Path,
        default=None,
        help="folder for the local devnet and the app's wallet (default: the platform's data folder)",
    )
    p.add_argument("--headless", action="store_true", help="run the devnet and the daemon without the window")
    p.add_argument("--validators", type=int, default=4, help=argparse.SUPPRESS)


def default_root(datadir: Path | None) -> Path:
    if datadir is not None:
        return Path(datadir).expanduser().resolve()
    return cfg.resolve_paths(cfg.Config()).data_dir / "local-devnet"


# Qt's xcb platform plugin needs these X libraries; a fresh Debian/Ubuntu lacks them (issue 16 item 10).
XCB_LIBRARIES = {"xcb-cursor": "libxcb-cursor0", "xcb-icccm": "libxcb-icccm4", "xcb-keysyms": "libxcb-keysyms1"}


def missing_x_libraries(find: Callable[[str], str | None] | None = None) -> list[str]:
    """The Debian packages of the X libraries Qt needs that this Linux machine lacks ([] elsewhere)."""
    if not sys.platform.startswith("linux"):
        return []
    if find is None:
        from ctypes.util import find_library as find
    return [package for lib, package in XCB_LIBRARIES.items() if find(lib) is None]


def window_possible(say: Callable[[str], None] = print) -> bool:
    """A display and the X libraries Qt needs; when they are missing, say which packages to install."""
    if not has_display():
        return False
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal", "wayland") or os.environ.get(
        "WAYLAND_DISPLAY"
    ):
        return True
    missing = missing_x_libraries()
    if missing:
        say(
            f"the window needs X libraries this system lacks; install them with:\n  sudo apt install "
            f"{' '.join(missing)}\ngoing on without the window (headless)"
        )
        return False
    return True


def has_display() -> bool:
    """Whether a window can be shown (Windows and macOS always have a screen; Linux needs X or Wayland)."""
    if sys.platform in ("win32", "darwin"):
        return True
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return True  # asked for explicitly (tests, screenshots)
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def configure_app(app_dir: Path, genesis: Path, bootstrap: list[str]) -> None:
    """Point the app's daemon at the local devnet, keeping every other setting the user chose."""
    path = cfg.config_file(app_dir)
    config, _warnings = cfg.load(path)
    config = cfg.with_changes(
        config,
        "network",
        chain=cfg.Chain.DEVNET,
        genesis_file=str(genesis),
        bootstrap_peers=bootstrap,
        listen=["/ip4/127.0.0.1/tcp/0"],
    )
    cfg.save(config, path)


def wait_until_serving(
    proc: subprocess.Popen[bytes], data_dir: Path, timeout_s: float = DAEMON_START_TIMEOUT_S, poll_s: float = 0.3
) -> None:
    """Return once the daemon `proc` published its endpoint in `data_dir`'s lockfile and answers a ping.

    Raises RuntimeError with the tail of `daemon.out` if it exits first, TimeoutError (after killing it)
    if it does not answer in time.
    """
    from app.rpc.client import RpcClient, RpcConnectionError
    from app.rpc.discovery import read_lock_info

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = data_dir / "daemon.out"
            tail = out.read_text(errors="replace")[-3000:] if out.exists() else ""
            raise RuntimeError(f"the daemon exited with {proc.returncode}:\n{tail}")
        try:
            info = read_lock_info(data_dir)
            if info is not None and info.endpoint is not None and info.pid == proc.pid:
                with RpcClient.for_datadir(data_dir, timeout=5) as client:
                    if client.ping():
                        return
        except (RpcConnectionError, OSError, ValueError):
            pass
        time.sleep(poll_s)
    proc.kill()
    raise TimeoutError(f"the daemon did not answer within {timeout_s:.0f} s; see {data_dir / 'daemon.out'}")


def start_daemon(app_dir: Path) -> subprocess.Popen[bytes]:
    app_dir.mkdir(parents=True, exist_ok=True)
    log = open(app_dir / "daemon.out", "ab")
    proc = subprocess.Popen([*cli_command(), "daemon", "--datadir", str(app_dir)], stdout=log, stderr=subprocess.STDOUT)
    wait_until_serving(proc, app_dir)
    return proc


def stop_process(proc: subprocess.Popen[bytes] | None, grace_s: float = 30.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)  # unwinds through `finally`, so every child is stopped


def run(args: argparse.Namespace) -> int:
    from app.node.local_devnet import LocalDevnetError, start_local_devnet

    root = default_root(args.datadir)
    network_dir, app_dir = root / "network", root / "app"
    headless = args.headless or not window_possible()
    print(f"PoT Miner: local devnet and wallet in {root}")
    # Ctrl-C stops everything, even when this process was started with SIGINT ignored (inherited), and the
    # handlers are put back on the way out (a caller in the same process keeps its own).
    saved = signal.signal(signal.SIGINT, signal.default_int_handler), signal.signal(signal.SIGTERM, _exit_on_sigterm)
    net = None
    daemon: subprocess.Popen[bytes] | None = None
    window: subprocess.Popen[bytes] | None = None
    try:
        try:
            net = start_local_devnet(network_dir, args.validators)
        except LocalDevnetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        configure_app(app_dir, network_dir / "genesis.json", net.bootstrap)
        print("starting the daemon (node, wallet, miner)")
        daemon = start_daemon(app_dir)
        if headless:
            print(
                "no display: running headless. In another terminal:\n"
                f"  potminer status --datadir {app_dir}\n  potminer wallet create --datadir {app_dir}\n"
                f"  potminer mine start --datadir {app_dir}\nCtrl-C stops everything."
            )
        else:
            print("opening the window")
            window = subprocess.Popen([*cli_command(), "gui", "--datadir", str(app_dir), "--no-launch"])
        last = 0.0
        while window is None or window.poll() is None:
            net.check_alive()
            if daemon.poll() is not None:
                print(f"the daemon stopped (exit {daemon.returncode}); see {app_dir / 'daemon.out'}", file=sys.stderr)
                return 1
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                print(net.line(), flush=True)
                last = time.monotonic()
            time.sleep(0.5)
        return window.returncode if window is not None else 0
    except KeyboardInterrupt:
        print("stopping")
        return 130
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave nodes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_process(window)
        stop_process(daemon)
        if net is not None:
            net.close()
        for sig, handler in zip((signal.SIGINT, signal.SIGTERM), saved):
            if handler is not None:  # None: a handler not set from Python, which cannot be put back
                signal.signal(sig, handler)
