"""Mining survives interruptions on a real devnet: `potminer mine pause` / `resume` mid-round continues
from the saved step, `kill -9` of the daemon and a restart continue from the saved round on disk, and
the round's receipt is then verified by the validator and paid (no verified work is lost).

The restart is a reboot's: no password anywhere, the keystore stays locked, and mining resumes with the
reward key kept for unattended mining (issue 16); a send is still refused without the password.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.node.devnet import Devnet, DevnetConfig
from tests.daemon.daemon_proc import cli, cli_json, rpc, start_daemon, stop_daemon, wait_for
from tests.integration.test_cli_devnet import CONFIG, ENV, start_miner_daemon

# Long enough to interrupt twice well before the end, even when a loaded box samples late; the duty
# cycle (utilization_cap, applied at start) slows training so the windows stay wide on a fast box.
STEPS = 4096
SLOW = CONFIG.replace("cpu_threads = 1", "cpu_threads = 1\nutilization_cap = 25")


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    """One validator; its requester posts a one-round task long enough to interrupt twice."""
    with Devnet(
        DevnetConfig(
            validators=1,
            miners=0,
            rounds=1,
            local_steps=STEPS,
            checkpoint_interval=32,
            batch_size=16,
            datadir=tmp_path / "net",
            round_wait_s=1.0,
        )
    ) as net:
        yield net


def _mining(d: Path) -> dict:
    return rpc(d, "mine.state")


def test_pause_resume_and_kill_9_lose_no_work(devnet: Devnet, tmp_path: Path) -> None:
    d = tmp_path / "daemon"
    proc = start_miner_daemon(devnet, d, SLOW)
    try:
        cli(d, "wallet", "create", "--words", "12", env=ENV)  # a seed wallet: its reward key is kept for mining
        assert devnet.task_id is not None
        task_id = devnet.task_id.hex()
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
        # The windows to interrupt in are behind us: the rest of the round may train at full speed (the duty
        # cycle only sleeps between steps; the arithmetic, and so the receipt, are the same).
        config = d / "config.toml"
        config.write_text(config.read_text().replace("utilization_cap = 25", "utilization_cap = 100"))
        proc = start_daemon(
            d,
            "--genesis",
            str(devnet.root / "genesis.json"),
            "--bootstrap",
            *devnet.bootstrap,
            env={"POTMINER_PASSWORD": ""},
        )  # a reboot: nobody types the password
        again = wait_for(lambda: _mining(d)["resumed_from"], 120, "training to resume after the restart")
        status = rpc(d, "status")
        assert status["wallet"]["locked"] is True, "mining resumed with the keystore still locked"
        refused = cli(
            d,
            "wallet",
            "send",
            status["wallet"]["addresses"]["spending"],
            "1",
            check=False,
            env={"POTMINER_PASSWORD": ""},
        )
        assert refused.returncode == 1 and "password" in refused.stderr
        # From the round saved on disk (a checkpoint, or the exact step the orphaned worker saved when
        # its pipe closed), never from step 0; training went on a little between `reached` and the kill.
        assert reached <= again < STEPS and again > at

        before = cli_json(d, "wallet", "balance")
        balance_before = before["total"] + before["pending"]  # spendable + still vesting
        done = wait_for(
            lambda: cli_json(d, "task", "show", task_id)["status"] == "finished",
            240,
            "the receipt to be verified and the round closed",
        )
        assert done
        after = cli_json(d, "wallet", "balance")
        assert after["total"] + after["pending"] > balance_before  # the interrupted round was paid (it may still vest)
    finally:
        stop_daemon(proc)
