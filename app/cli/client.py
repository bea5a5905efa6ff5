"""Client subcommands: `potminer status|mine|task|peers|logs` (the wallet's are in wallet.py).

Each is one or two RPC calls to the running daemon; human output by default, `--json` for scripts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from app.cli.common import add_common, call, guarded, output

SLOW_CALL_S = 600.0


def _amount(grains: int | None) -> str:
    from app.wallet.tx import format_amount

    return "-" if grains is None else format_amount(grains)


# -- status ---------------------------------------------------------------------------------------
def add_status_args(p: argparse.ArgumentParser) -> None:
    add_common(p)


def _status_text(r: dict[str, Any]) -> str:
    m, wallet, node = r["mining"], r["wallet"], r["node"]
    lines = [f"mining:  {m['state']}: {m['text']}"]
    if m.get("round") is not None:
        step = f"step {m['step']}/{m['total_steps']}"
        lines.append(f"round:   {m['round']} of task {str(m['task_id'])[:16]}…  {step}")
    if node is None:
        lines.append("node:    offline")
    else:
        lines.append(f"node:    {node['chain_id']} height {node['height']}, {node['open_tasks']} open task(s)")
    network = r.get("network")
    if network:  # the island warning first-class: a node that reached nobody must not look fine
        lines.append(f"network: {'NOT REACHED: ' if network['island'] else ''}{network['message']}")
    if not wallet["exists"]:
        lines.append("wallet:  none (potminer wallet create)")
    else:
        lock = "locked" if wallet["locked"] else "unlocked"
        lines.append(f"wallet:  {wallet['addresses']['spending']} ({lock}), balance {_amount(wallet.get('total'))}")
    return "\n".join(lines)


@guarded
def run_status(args: argparse.Namespace) -> int:
    return output(args, call(args, "status"), _status_text)


# -- mine -----------------------------------------------------------------------------------------
def add_mine_args(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument(
        "action",
        choices=["start", "stop", "pause", "resume", "state"],
        help="start/stop the miner (stop frees the GPU), pause/resume the round, or show its state",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--always", dest="mode", action="store_const", const="always", help="mine whenever allowed")
    mode.add_argument(
        "--when-idle", dest="mode", action="store_const", const="when-idle", help="mine only while the computer is idle"
    )


@guarded
def run_mine(args: argparse.Namespace) -> int:
    method = {
        "start": "mine.start",
        "stop": "mine.stop",
        "pause": "mine.pause",
        "resume": "mine.resume",
        "state": "mine.state",
    }[args.action]
    params = {"mode": args.mode} if args.action == "start" and args.mode else {}
    return output(args, call(args, method, params), lambda m: f"{m['state']}: {m['text']}")


# -- task -----------------------------------------------------------------------------------------
def add_task_args(p: argparse.ArgumentParser) -> None:
    add_common(p)
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    post = sub.add_parser(
        "post", help="post a task over a shipped dataset or your own files, escrowing fee-per-round x rounds"
    )
    post.add_argument("--dataset", default="digits", help="a shipped dataset (ignored with --data)")
    post.add_argument(
        "--data",
        help="your own data: a folder of images (one subfolder per class), a text file, "
        "a .npz with arrays inputs and targets, or a folder with inputs.npy and targets.npy",
    )
    post.add_argument("--name", default="", help="a name for your data set (default: the file's name)")
    post.add_argument("--context", type=int, default=64, help="text: bytes per training window")
    post.add_argument(
        "--model",
        default="",
        choices=["mlp", "cnn", "tiny-lm"],
        help="default: the registry model that fits the data (mlp for a shipped dataset)",
    )
    post.add_argument("--rounds", type=int, default=10)
    post.add_argument("--local-steps", type=int, default=64)
    post.add_argument("--checkpoint-interval", type=int, default=16)
    post.add_argument("--batch-size", type=int, default=32)
    post.add_argument("--fee-per-round", default="10", help="POT paid to the round's miners")
    post.add_argument("--fee", default="0.000001", help="transaction fee in POT")
    post.add_argument(
        "--title", default="", help="a short title people see beside the task id (plain text, at most 80 characters)"
    )
    post.add_argument(
        "--description", default="", help="what the task trains and why (plain text, at most 500 characters)"
    )
    post.add_argument(
        "--lr",
        help="the optimiser's learning rate, a decimal like 0.001 (default: the shipped "
        "task's); the chain refuses one that trains nothing or diverges",
    )
    post.add_argument(
        "--patience",
        type=int,
        default=0,
        help="finish the task (and refund the rest of the escrow) after this many rounds without the "
        "validation loss beating its best by --min-improvement (default: the dataset's own rule)",
    )
    post.add_argument(
        "--min-improvement",
        type=float,
        default=0.0,
        help="with --patience: how much lower (in nats) the validation loss must go to count as progress",
    )
    show = sub.add_parser("show", help="a task's round, status, validation loss and escrow")
    show.add_argument("task_id")
    sub.add_parser("list", help="every task on the chain")
    result = sub.add_parser("result", help="write a task's final (or current) checkpoint as a safetensors file")
    result.add_argument("task_id")
    result.add_argument("-o", "--output", help="the file to write (default: task-<id prefix>.safetensors)")
    for q in (post, show, sub.choices["list"], result):
        add_common(q)


def _task_text(t: dict[str, Any]) -> str:
    loss = "-" if t["validation_loss"] is None else f"{t['validation_loss']:.4f}"
    title = f"  {t['title']}" if t.get("title") else ""
    patience = (
        f", {t['stale_rounds']} of {t['patience_rounds']} rounds without progress"
        if t.get("patience_rounds") and t.get("status") == "open"
        else ""
    )
    words = "".join(f"\n  | {line}" for line in str(t.get("description") or "").splitlines())
    return (
        f"task {t['task_id']}{title}{words}\n  {t['status']}, round {t['round']}/{t['rounds']}, model {t['model']}, "
        f"validation loss {loss}, escrow {t['escrow_text']}{patience}"
    )


@guarded
def run_task(args: argparse.Namespace) -> int:
    if args.action == "post":
        params = {
            "dataset": args.dataset,
            "model": args.model,
            "rounds": args.rounds,
            "local_steps": args.local_steps,
            "checkpoint_interval": args.checkpoint_interval,
            "batch_size": args.batch_size,
            "fee_per_round": args.fee_per_round,
            "fee": args.fee,
            "name": args.name,
            "context": args.context,
        }
        if args.data:
            params["data"] = str(Path(args.data).expanduser().resolve())
        if args.lr:
            params["lr"] = args.lr
        if args.title or args.description:
            params.update(title=args.title, description=args.description)
        if args.patience:
            params.update(patience=args.patience, min_improvement=args.min_improvement)
        # packing up to 256 MB of files, or fetching a large checkpoint, takes longer than a plain call
        return output(
            args,
            call(args, "task.post", params, timeout=SLOW_CALL_S if args.data else 60),
            lambda r: f"posted task {r['task_id']} (escrow {r['escrow_text']}); it opens once in a block",
        )
    if args.action == "result":
        out = Path(args.output or f"task-{args.task_id[:16]}.safetensors").expanduser().resolve()
        return output(
            args,
            call(args, "task.result", {"task_id": args.task_id, "path": str(out)}, timeout=SLOW_CALL_S),
            lambda r: (
                f"wrote {r['path']}: {r['model']} with {r['parameters']} parameters, round "
                f"{r['round']}/{r['rounds']} ({r['status']})"
            ),
        )
    if args.action == "show":
        return output(args, call(args, "task.show", {"task_id": args.task_id}), _task_text)
    return output(args, call(args, "task.list"), lambda r: "\n".join(map(_task_text, r["tasks"])) or "no tasks")


# -- peers and logs -------------------------------------------------------------------------------
def add_peers_args(p: argparse.ArgumentParser) -> None:
    add_common(p)


@guarded
def run_peers(args: argparse.Namespace) -> int:
    def text(r: dict[str, Any]) -> str:
        rows = [
            f"{p['peer_id']}  score {p['score']}{'  connected' if p['connected'] else ''}"
            f"{'  BANNED' if p['banned'] else ''}"
            for p in r["peers"]
        ]
        return "\n".join(rows) or "no peers"

    return output(args, call(args, "peers"), text)


def add_logs_args(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("-n", "--lines", type=int, default=50)
    p.add_argument("--level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")


def _log_line(e: dict[str, Any]) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(e["time"]))
    return f"{stamp} {e['level']:<7} {e['logger']}: {e['message']}"


@guarded
def run_logs(args: argparse.Namespace) -> int:
    result = call(args, "logs", {"limit": args.lines, "min_level": args.level})
    output(args, result, lambda r: "\n".join(_log_line(e) for e in r["entries"]))
    after = result["entries"][-1]["seq"] if result["entries"] else 0
    while args.follow:
        time.sleep(1)
        result = call(args, "logs", {"limit": 2000, "min_level": args.level, "after_seq": after})
        for e in result["entries"]:
            print(_log_line(e), flush=True)
            after = e["seq"]
    return 0
