"""A volunteer's daemon in light mode against a real devnet: started with only the chain's files (its
genesis and a bootstrap peer), it follows verified headers, mines the open task, is paid, and shows its
balance, vesting rewards and history from proofs, keeping no chain database of its own (issue 13).
"""

from __future__ import annotations

from pathlib import Path

from app.node.devnet import Devnet, DevnetConfig
from tests.daemon.daemon_proc import cli, cli_json, rpc, start_daemon, stop_daemon, wait_for, write_config

PASSWORD = "volunteer password"
ENV = {"POTMINER_PASSWORD": PASSWORD}
LIGHT_CONFIG = """
[mining]
mode = "always"
pause_on_battery = false
cpu_threads = 1
[network]
node_mode = "light"
listen = ["/ip4/127.0.0.1/tcp/0"]
"""


def test_a_light_daemon_syncs_mines_is_paid_and_shows_only_proven_figures(tmp_path: Path) -> None:
    config = DevnetConfig(
        validators=1,
        miners=0,
        post_task=False,
        datadir=tmp_path / "net",
        round_wait_s=1.0,
        rounds=2,
        local_steps=16,
        checkpoint_interval=8,
        batch_size=16,
    )
    with Devnet(config) as net:
        d = tmp_path / "volunteer"
        write_config(d, LIGHT_CONFIG)
        proc = start_daemon(d, "--genesis", str(net.root / "genesis.json"), "--bootstrap", *net.bootstrap, env=ENV)
        try:
            cli(d, "wallet", "create", "--words", "12", env=ENV)  # a fresh volunteer: no coins, a reward key
            reward_address = cli_json(d, "wallet", "address")["addresses"]["reward"]
            status = wait_for(lambda: (lambda s: s["node"]["height"] > 0 and s)(rpc(d, "status")), 60, "header sync")
            assert status["node"]["mode"] == "light"
            task_id = net.post_task().hex()
            task = wait_for(lambda: _task(d, task_id), 60, "the light daemon to prove the posted task")
            assert task["rounds"] == 2

            paid = wait_for(
                lambda: (lambda b: b["total"] + b["pending"] > 0 and b)(cli_json(d, "wallet", "balance")),
                240,
                "a verified receipt of the light miner to be paid",
            )
            assert paid["accounts"]["reward"]["address"] == reward_address
            # the same figure proven for any address through chain.account, from a full node's proof
            account = rpc(d, "chain.account", {"address": reward_address})
            assert (
                account["balance"] + account["pending"]
                == paid["accounts"]["reward"]["balance"] + (paid["accounts"]["reward"]["pending"])
            )
            history = wait_for(
                lambda: [e for e in cli_json(d, "wallet", "history")["entries"] if e["kind"] == "reward"],
                30,
                "the reward in the history",
            )
            assert history[0]["delta"] > 0
        finally:
            stop_daemon(proc)
        light = d / "light"
        assert (light / "headers.sqlite").is_file() and any((light / "traces").glob("*.trace"))
        assert not (d / "node" / "chain.sqlite").exists()  # no chain database: headers and proofs only
        log = (d / "logs").glob("*.log")
        assert any("node mode: light" in p.read_text(errors="replace") for p in log)


def _task(d: Path, task_id: str) -> dict | None:  # type: ignore[type-arg]
    done = cli(d, "task", "show", task_id, "--json", check=False)
    if done.returncode != 0:
        return None
    import json

    return json.loads(done.stdout)  # type: ignore[no-any-return]
