"""Helpers shared by the client subcommands: finding the daemon, reading passwords, printing answers.

Passwords are never taken on the command line (they would show in `ps` and shell history): they are
read with getpass, or from `--password-file` / $POTMINER_PASSWORD for scripts, and never echoed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app import config as cfg
from app.rpc.client import RpcClient, RpcConnectionError
from app.rpc.protocol import RpcError

PASSWORD_ENV = "POTMINER_PASSWORD"


class CliError(Exception):
    """A failure to report in one line (exit status 1)."""


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--datadir", type=Path, default=None, help="data folder of the daemon (default: the platform's)")
    p.add_argument("--json", action="store_true", help="print the daemon's JSON answer (for scripts)")


def add_password(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-file",
        type=Path,
        default=None,
        help=f"read the password from this file (else ${PASSWORD_ENV}, else a prompt)",
    )


def data_dir(args: argparse.Namespace) -> Path:
    """The daemon's data folder: --datadir (or the platform's), or the app folder `potminer run` made
    in it (`D/app`, or `<platform data>/local-devnet/app`) when the daemon runs there."""
    if args.datadir is not None:
        root = Path(args.datadir).expanduser().resolve()
    else:
        config, _ = cfg.load(cfg.config_file(None))
        root = cfg.resolve_paths(config, None).data_dir
    return discover(root)


def discover(root: Path) -> Path:
    """`root` itself when a daemon runs there (or nowhere is one found), else the launcher's app folder."""
    from app.rpc.discovery import lock_path

    for candidate in (root, root / "app", root / "local-devnet" / "app"):
        if lock_path(candidate).exists():
            return candidate
    return root


def read_password(args: argparse.Namespace, prompt: str = "Wallet password: ", confirm: bool = False) -> str:
    path = getattr(args, "password_file", None)
    if path is not None:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise CliError(f"no password: give --password-file FILE or set ${PASSWORD_ENV} when not at a terminal")
    password = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat the password: ") != password:
        raise CliError("the passwords differ; nothing was changed")
    return password


def call(args: argparse.Namespace, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> Any:
    """One RPC call to the daemon serving the data folder; errors become CliError with the daemon's words."""
    try:
        with RpcClient.for_datadir(data_dir(args), timeout=timeout) as client:
            return client.call(method, params or {})
    except RpcError as exc:
        raise CliError(exc.message) from None
    except (RpcConnectionError, OSError, ValueError) as exc:
        raise CliError(str(exc)) from None


def output(args: argparse.Namespace, result: Any, human: Callable[[Any], str]) -> int:
    print(json.dumps(result, indent=1, sort_keys=True) if args.json else human(result))
    return 0


def guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn a CliError into one line on stderr and exit status 1; with --json, a JSON object
    {"error": message} on stdout instead, so scripts parse failures like answers."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except CliError as exc:
            if getattr(args, "json", False):
                print(json.dumps({"error": str(exc)}))
            else:
                print(f"potminer: {exc}", file=sys.stderr)
            return 1

    run.__doc__ = handler.__doc__
    return run
