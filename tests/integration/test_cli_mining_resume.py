"""Mining survives interruptions on a real devnet: `potminer mine pause` / `resume` mid-round continues
from the saved step, `kill -9` of the daemon and a restart continue from the saved round on disk, and
the round's receipt is then verified by the validator and paid (no verified work is lost).
"""

from __future__ import annotations

import signal
from pathlib import Path

from app.node.devnet import Devnet
from tests.daemon.daemon_proc import cli, cli_json, rpc, start_daemon, stop_daemon, wait_for
from tests.integration.test_cli_devnet import CONFIG, ENV, devnet, start_miner_daemon  # noqa: F401 - fixture

# Long enough to interrupt twice well before the end, even when a loaded box samples late; the duty
# cycle (utilization_cap, applied at start) slows training so the windows stay wide on a fast box.
STEPS = 4096
LONG = ["--rounds", "1", "--local-steps", str(STEPS), "--checkpoint-interval", "32", "--batch-size", "16"]
SLOW = CONFIG.replace("cpu_threads = 1", "cpu_threads = 1\nutilization_cap = 25")


def _mining(d: Path) -> dict:
    return rpc(d, "mine.state")


def test_pause_resume_and_kill_9_lose_no_work(devnet: Devnet, tmp_path: Path) -> None:  # noqa: F811
    d = tmp_path / "daemon"
    proc = start_miner_daemon(devnet, d, SLOW)
    try:
        cli(d, "wallet", "import", "--raw-key-file", str(devnet.root / "requester.key"), env=ENV)
        task_id = cli_json(d, "task", "post", *LONG)["task_id"]
        wait_for(lambda: _mining(d)["state"] == "mining" and _mining(d)["step"] >= 40, 120, "training past step 40")

        paused = cli_json(d, "mine", "pause")
        assert paused["state"] == "paused" and paused["reason"] == "user-paused"
        at = wait_for(lambda: _mining(d)["paused_at"], 30, "the round to be saved")
        assert at >= 40
        resumed = cli_json(d, "mine", "resume")
        assert resumed["state"] == "mining"
        wait_for(lambda: _mining(d)["resumed_from"] == at, 60, "the round to continue from the saved step")
        wait_for(lambda: _mining(d)["step"] >= at + 32, 120, "training past another checkpoint")
        reached = _mining(d)["step"]
        assert reached < STEPS - 256, "the round must still be far from its end when the daemon is killed"

        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc = start_daemon(d, "--genesis", str(devnet.root / "genesis.json"), "--bootstrap", *devnet.bootstrap,
                            env=ENV)  # unlocks the wallet from $POTMINER_PASSWORD, as on a headless rig
        again = wait_for(lambda: _mining(d)["resumed_from"], 120, "training to resume after the restart")
        # From the round saved on disk (a checkpoint, or the exact step the orphaned worker saved when
        # its pipe closed), never from step 0; training went on a little between `reached` and the kill.
        assert reached <= again < STEPS and again > at

        before = cli_json(d, "wallet", "balance")
        balance_before = before["total"] + before["pending"]  # spendable + still vesting
        done = wait_for(lambda: cli_json(d, "task", "show", task_id)["status"] == "finished", 240,
                        "the receipt to be verified and the round closed")
        assert done
        after = cli_json(d, "wallet", "balance")
        assert after["total"] + after["pending"] > balance_before  # the interrupted round was paid (it may still vest)
    finally:
        stop_daemon(proc)
