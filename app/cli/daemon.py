"""`potminer daemon` (run the background process) and `potminer stop`."""

from __future__ import annotations

import argparse
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
        return daemon.run()
    except ListenError as exc:  # its port is taken: the message says how to choose another
        print(f"potminer daemon: {exc}", file=sys.stderr)
        return 2


def add_stop_args(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the daemon to exit")


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
