"""`potminer daemon` (run the background process) and `potminer stop`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from app.cli.common import CliError, add_common, call, data_dir, guarded, output


def add_daemon_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--datadir", type=Path, default=None, help="config, data and logs all in this folder")
    p.add_argument(
        "--genesis", type=Path, default=None, help="genesis file (a devnet's; default: the chain's shipped one)"
    )
    p.add_argument("--bootstrap", nargs="*", default=[], help="peer multiaddrs ending in /p2p/<peer id>")
    p.add_argument(
        "--bootstrap-file",
        type=Path,
        default=None,
        help="a newer bootstrap list (JSON, the form of resources/chains/<name>/bootstrap.json)",
    )
    p.add_argument("--listen", default=None, help="/ip4/HOST/tcp/PORT for peers (default: from the config)")
    p.add_argument("--offline", action="store_true", help="run without a node (wallet and settings only)")
    p.add_argument(
        "--password-file",
        type=Path,
        default=None,
        help="unlock the wallet at start with this password (headless rigs; else $POTMINER_PASSWORD)",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--console", action="store_true", help="also log to stderr")
    p.add_argument("--block-interval", type=float, default=1.0, help=argparse.SUPPRESS)


def run_daemon(args: argparse.Namespace) -> int:
    from app.config import ConfigError
    from app.daemon.daemon import Daemon, DaemonOptions
    from app.daemon.lock import DaemonAlreadyRunning
    from app.net.errors import ListenError

    options = DaemonOptions(
        datadir=args.datadir,
        genesis=args.genesis,
        bootstrap=tuple(args.bootstrap),
        bootstrap_file=args.bootstrap_file,
        listen=args.listen,
        offline=args.offline,
        password_file=args.password_file,
        console_log=args.console,
        log_level=args.log_level,
        block_interval_s=args.block_interval,
    )
    try:
        daemon = Daemon(options)
    except (DaemonAlreadyRunning, ConfigError) as exc:  # a NodeSetupError (damaged chain files...) is one
        print(f"potminer daemon: {exc}", file=sys.stderr)
        return 2
    print(f"potminer daemon: serving {daemon.paths.data_dir}", file=sys.stderr, flush=True)
    try:
        status = daemon.run()
    except ListenError as exc:  # its port is taken: the message says how to choose another
        print(f"potminer daemon: {exc}", file=sys.stderr)
        return 2
    if daemon.restart_requested:
        restart_daemon_process()
    return status


def restart_daemon_process() -> None:
    """Replace this process with a fresh `potminer daemon` of the same arguments (the `restart` method).

    A new process, not a new `Daemon` object in this one: every thread, socket, port and library state of
    the old network is gone for sure, and the same process id keeps a supervisor (the launcher, systemd,
    the window's reconnect) following it. On Windows `execv` starts a new process and ends this one."""
    from app.resources import cli_command

    argv = [*cli_command(), *sys.argv[1:]]
    print("potminer daemon: restarting", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.execv(argv[0], argv)


def add_stop_args(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the daemon to exit")


def add_restart_args(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the new daemon to answer")


@guarded
def run_stop(args: argparse.Namespace) -> int:
    from app.rpc.discovery import read_lock_info

    result = call(args, "stop")
    deadline = time.monotonic() + args.wait
    while read_lock_info(data_dir(args)) is not None:
        if time.monotonic() > deadline:
            raise CliError(f"the daemon did not exit within {args.wait:.0f} s")
        time.sleep(0.2)
    return output(args, result, lambda r: "daemon stopped")


@guarded
def run_restart(args: argparse.Namespace) -> int:
    """Ask the daemon to restart (network settings take effect) and wait until the new one answers."""
    from app.rpc.auth import read_token_file, token_path

    def token() -> str | None:
        try:
            return read_token_file(token_path(data_dir(args)))
        except Exception:  # noqa: BLE001 - none yet, or half-written by the starting daemon: ask again
            return None

    before = token()
    call(args, "restart")
    deadline = time.monotonic() + args.wait
    while True:
        if token() not in (None, before):
            try:
                return output(args, call(args, "status"), lambda r: "daemon restarted")
            except CliError:
                pass  # the new daemon is still starting
        if time.monotonic() > deadline:
            raise CliError(f"the daemon did not come back within {args.wait:.0f} s; see its log (potminer logs)")
        time.sleep(0.3)
