"""`potminer wallet create|restore|unlock|lock|address|balance|send|sweep|forget-hot-key|history|export|import`.

Every send asks for the password (a prompt, --password-file or $POTMINER_PASSWORD), even while the
wallet is unlocked; a wrong one refuses the send. `sweep` moves the rewards to the spending account
with the reward key the daemon keeps for unattended mining, so it needs no password.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from app.cli.common import CliError, add_common, add_password, call, guarded, output, read_password

ACTIONS = {
    "create": "create a new wallet (shows its seed phrase once)",
    "restore": "restore a wallet from its seed phrase",
    "unlock": "unlock the wallet (once per machine: mining then resumes by itself after a restart)",
    "lock": "forget the decrypted keys (mining goes on with the kept reward key)",
    "address": "the spending and reward addresses",
    "balance": "the balances of both accounts",
    "send": "send coins (asks for the password every time)",
    "sweep": "move the spendable rewards to the spending account (no password needed)",
    "forget-hot-key": "delete the reward key kept for unattended mining (mining then needs an unlock)",
    "history": "transfers and rewards",
    "export": "show the seed phrase or a raw key, or copy the keystore (asks for the password)",
    "import": "import a keystore file or a raw private key",
}


def add_wallet_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in ACTIONS.items():
        q = sub.add_parser(name, help=help_text, description=help_text)
        add_common(q)
        if name in ("create", "restore", "unlock", "send", "export", "import"):
            add_password(q)
    sub.choices["sweep"].add_argument("--fee", default="0.000001", help="transaction fee in POT")
    sub.choices["create"].add_argument("--words", type=int, default=24, choices=[12, 15, 18, 21, 24])
    sub.choices["restore"].add_argument(
        "--phrase-file", type=Path, default=None, help="read the seed phrase from this file (else a prompt)"
    )
    send = sub.choices["send"]
    send.add_argument("to", help="recipient address")
    send.add_argument("amount", help="amount in POT, e.g. 1.5")
    send.add_argument("--fee", default="0.000001", help="transaction fee in POT")
    send.add_argument("--memo", default="")
    send.add_argument(
        "--from",
        dest="account",
        default="spending",
        choices=["spending", "reward"],
        help="which of the wallet's accounts pays (rewards arrive on 'reward')",
    )
    sub.choices["history"].add_argument("--limit", type=int, default=100)
    export = sub.choices["export"]
    export.add_argument("what", choices=["phrase", "raw_key", "keystore"])
    export.add_argument("--role", default="spending", choices=["spending", "reward"])
    export.add_argument("--to", default="", help="destination file for 'keystore'")
    imp = sub.choices["import"]
    src = imp.add_mutually_exclusive_group(required=True)
    src.add_argument("--keystore", type=Path, help="a keystore file exported elsewhere")
    src.add_argument("--raw-key-file", type=Path, help="a file holding a 64-hex private key")


def _addresses(r: dict[str, Any]) -> str:
    a = r["addresses"]
    return f"spending: {a['spending']}\nreward:   {a['reward']}"


def _balance(r: dict[str, Any]) -> str:
    from app.wallet.tx import format_amount

    rows = [f"{role:<9} {acct['address']}  {format_amount(acct['balance'])}" for role, acct in r["accounts"].items()]
    return "\n".join(rows + [f"total     {r['total_text']} (height {r['height']})"])


@guarded
def run_wallet(args: argparse.Namespace) -> int:
    action = args.action
    if action == "create":
        password = read_password(args, "New wallet password: ", confirm=True)
        r = call(args, "wallet.create", {"password": password, "words": args.words})
        return output(
            args,
            r,
            lambda r: f"Write these words down, in order, and keep them offline:\n\n  {r['phrase']}\n\n{_addresses(r)}",
        )
    if action == "restore":
        phrase = (
            args.phrase_file.read_text(encoding="utf-8").strip()
            if args.phrase_file
            else _prompt_secret("Seed phrase: ")
        )
        password = read_password(args, "New wallet password: ", confirm=True)
        return output(args, call(args, "wallet.restore", {"phrase": phrase, "password": password}), _addresses)
    if action == "unlock":
        return output(args, call(args, "wallet.unlock", {"password": read_password(args)}), lambda r: "unlocked")
    if action in ("lock", "address", "balance"):
        human = {"lock": lambda r: "locked", "address": _addresses, "balance": _balance}[action]
        return output(args, call(args, f"wallet.{action}"), human)
    if action == "send":
        password = read_password(args, "Wallet password (to send): ")
        r = call(
            args,
            "wallet.send",
            {
                "to": args.to,
                "amount": args.amount,
                "fee": args.fee,
                "memo": args.memo,
                "account": args.account,
                "password": password,
            },
        )
        return output(args, r, lambda r: f"sent: transaction {r['tx_id']}")
    if action == "sweep":
        r = call(args, "wallet.sweep", {"fee": args.fee})
        return output(
            args, r, lambda r: f"moved {r['amount_text']} POT of rewards to {r['to']} (transaction {r['tx_id']})"
        )
    if action == "forget-hot-key":
        return output(
            args,
            call(args, "wallet.forget_hot_key"),
            lambda r: "the reward key is no longer kept: mining after a restart needs an unlock",
        )
    if action == "history":
        r = call(args, "wallet.history", {"limit": args.limit})
        return output(
            args,
            r,
            lambda r: (
                "\n".join(
                    f"{e['height']:>7}  {e['kind']:<8} {'-' if e['delta'] < 0 else '+'}{e['amount']}  {e['counterparty'] or ''}"
                    for e in r["entries"]
                )
                or "no history yet"
            ),
        )
    if action == "export":
        params = {
            "password": read_password(args),
            "what": args.what,
            "role": args.role,
            "destination": str(Path(args.to).resolve()) if args.to else "",
        }
        return output(args, call(args, "wallet.export", params), _export_text)
    key = args.raw_key_file.read_text(encoding="ascii").strip() if args.raw_key_file else ""
    params = {
        "password": read_password(args),
        "keystore": str(args.keystore.resolve()) if args.keystore else "",
        "private_key": key,
    }
    return output(args, call(args, "wallet.import", params), _addresses)


def _export_text(r: dict[str, Any]) -> str:
    if "phrase" in r:
        return f"Seed phrase (keep it secret):\n\n  {r['phrase']}"
    if "private_key" in r:
        return f"Private key of the {r['role']} key (keep it secret): {r['private_key']}"
    return f"keystore written to {r['destination']}"


def _prompt_secret(prompt: str) -> str:
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the seed phrase: give --phrase-file FILE")
    return getpass.getpass(prompt)
