"""The CLI drives a real devnet end to end: one validator process, one daemon process (node, wallet,
training worker). A requester posts a task with a fee, the daemon mines it, its balance grows with
rewards (streamed as events), and a transfer it sends arrives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.node.devnet import Devnet, DevnetConfig
from app.rpc.client import RpcClient
from app.wallet.tx import parse_amount
from tests.daemon.daemon_proc import cli, cli_json, rpc, start_daemon, stop_daemon, wait_for, write_config

PASSWORD = "requester password"
ENV = {"POTMINER_PASSWORD": PASSWORD}
CONFIG = """
[mining]
mode = "always"
pause_on_battery = false
cpu_threads = 1
[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
mdns = false
"""
TINY = ["--rounds", "2", "--local-steps", "16", "--checkpoint-interval", "8", "--batch-size", "16"]


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    with Devnet(
        DevnetConfig(validators=1, miners=0, post_task=False, datadir=tmp_path / "net", round_wait_s=1.0)
    ) as net:
        yield net


def start_miner_daemon(net: Devnet, datadir: Path, config: str = CONFIG, env: dict[str, str] | None = None) -> object:
    write_config(datadir, config)
    return start_daemon(
        datadir, "--genesis", str(net.root / "genesis.json"), "--bootstrap", *net.bootstrap, env=ENV | (env or {})
    )


def test_requester_posts_daemon_mines_balance_grows_transfer_arrives(devnet: Devnet, tmp_path: Path) -> None:
    d = tmp_path / "daemon"
    proc = start_miner_daemon(devnet, d, env={"POTMINER_PRUNE_GRACE_S": "2"})  # prune within seconds, for the test
    try:
        # the requester's funded key becomes this daemon's wallet (a raw key plays both roles)
        imported = cli_json(d, "wallet", "import", "--raw-key-file", str(devnet.root / "requester.key"), env=ENV)
        me = imported["addresses"]["spending"]
        _each_degenerate_task_is_refused_with_its_reason(d)
        with RpcClient.for_datadir(d, timeout=30) as events:
            events.subscribe(["reward", "new_block", "mining_state"])
            patience = ["--patience", "5", "--min-improvement", "0.01"]  # the requester's own rule (issue 14)
            posted = cli_json(d, "task", "post", *TINY, "--fee-per-round", "10", *patience)
            task = wait_for(lambda: _task(d, posted["task_id"]), 60, "the task post to be included")
            assert task["rounds"] == 2 and task["escrow"] == parse_amount("20")
            assert task["patience_rounds"] == 5 and task["min_improvement"] == 0.01  # on chain, in the spec
            before = cli_json(d, "wallet", "balance")
            after_post = before["total"] + before["pending"]

            finished = wait_for(
                lambda: (_task(d, posted["task_id"]) or {}).get("status") == "finished",
                180,
                "both rounds to be mined and closed",
            )
            assert finished
            paid = cli_json(d, "wallet", "balance")
            grown = paid["total"] + paid["pending"]
            assert grown > after_post  # rewards for verified work (minted plus the released fee), maybe still vesting
            # Miner rewards vest reward_vesting_blocks (devnet 8) after the block that paid them: then spendable.
            vested = wait_for(
                lambda: (lambda b: b["pending"] == 0 and b["total"] >= grown and b)(cli_json(d, "wallet", "balance")),
                60,
                "the rewards to vest",
            )
            assert vested["total"] > before["total"] and vested["summary"].endswith(" POT vesting")
            assert _received(events, {"reward", "new_block", "mining_state"})

        history = cli_json(d, "wallet", "history")["entries"]
        assert any(e["kind"] == "reward" and e["delta"] > 0 for e in history)

        friend = _valid_address()
        # every send asks for the password, though the wallet is unlocked (issue 16 item 6)
        no_pw = cli(d, "wallet", "send", friend, "5", check=False, env={"POTMINER_PASSWORD": ""})
        assert no_pw.returncode == 1 and "password" in no_pw.stderr
        wrong = cli(d, "wallet", "send", friend, "5", check=False, env={"POTMINER_PASSWORD": "not the password"})
        assert wrong.returncode == 1 and "wrong password" in wrong.stderr
        sent = cli_json(d, "wallet", "send", friend, "5", "--memo", "thanks", env=ENV)
        assert len(sent["tx_id"]) == 64
        arrived = wait_for(
            lambda: rpc(d, "chain.account", {"address": friend})["balance"] == parse_amount("5"),
            60,
            "the transfer to arrive",
        )
        assert arrived
        assert any(
            e["kind"] == "sent" and e["counterparty"] == friend for e in cli_json(d, "wallet", "history")["entries"]
        )
        assert me == cli_json(d, "wallet", "address")["addresses"]["spending"]

        bad = cli(d, "wallet", "send", "potd1notanaddress", "1", check=False, env=ENV)
        assert bad.returncode == 1 and "address" in bad.stderr
        _checkpoints_pruned_and_the_disk_cap_pauses(d)
    finally:
        stop_daemon(proc)


def _checkpoints_pruned_and_the_disk_cap_pauses(d: Path) -> None:
    """Issue 16's bounded disk: once the rewards have vested nothing can challenge the rounds, so the
    checkpoints their traces name are deleted (the task's result and the shipped data stay); a cap below
    the data folder's size pauses mining with the sizes in the reason, and raising it resumes."""
    from app.core.blobstore import BlobStore
    from app.pot.proof import TrainingTrace

    store = BlobStore(d / "node" / "blobs")
    traces = [TrainingTrace.decode(p.read_bytes()) for p in (d / "node" / "traces").glob("*.trace")]
    assert len(traces) >= 2, "one trace per mined round"
    trained = {c for t in traces for c in t.checkpoints[1:]}  # each round's own checkpoints (not its base)
    wait_for(lambda: not any(store.has(c) for c in trained), 60, "the vested rounds' checkpoints to be pruned")
    state = rpc(d, "mine.state")
    assert 0 < state["disk_used_bytes"] < state["disk_cap_bytes"] == 5 * 10**9  # the default cap: 5 GB
    rpc(d, "config.set", {"section": "mining", "values": {"disk_cap_gb": 0.0001}})  # 100 kB: below the folder's size
    full = wait_for(lambda: (lambda s: s["reason"] == "disk-full" and s)(rpc(d, "mine.state")), 30, "a disk-full pause")
    assert full["state"] == "paused" and "of its 100 kB cap" in full["text"]
    rpc(d, "config.set", {"section": "mining", "values": {"disk_cap_gb": 5}})
    wait_for(lambda: rpc(d, "mine.state")["reason"] != "disk-full", 30, "mining to leave the disk-full pause")


# (CLI flags of a degenerate task, the admission reason and the bound its one-line error must name); issue 12
DEGENERATE = [
    (["--lr", "0"], "lr-too-low", "under 0.000001"),
    (["--lr", "5"], "lr-too-high", "over 0.01"),
    (["--batch-size", "1"], "batch-too-small", "under 8"),
    (["--local-steps", "200000", "--checkpoint-interval", "1000"], "too-many-steps", "the cap is 100000"),
    (["--fee-per-round", "0"], "fee-too-low", "under the minimum"),
]


def _each_degenerate_task_is_refused_with_its_reason(d: Path) -> None:
    """`potminer task post` of each degenerate task: one clear line naming the rule and its bound, exit
    status 1, and nothing posted (no task, no escrow taken, nothing in the mempool to be included later)."""
    before = cli_json(d, "wallet", "balance")
    for flags, reason, bound in DEGENERATE:
        done = cli(d, "task", "post", *TINY, *flags, check=False, env=ENV)
        assert done.returncode == 1 and done.stdout == "", (flags, done.stdout)
        line = done.stderr.strip()
        assert "\n" not in line and f"task refused ({reason})" in line and bound in line, (flags, line)
    as_json = cli_json(d, "task", "post", *TINY, "--lr", "0", check=False, env=ENV)
    assert "task refused (lr-too-low)" in as_json["error"]
    assert cli_json(d, "task", "list")["tasks"] == []
    assert cli_json(d, "wallet", "balance")["total"] == before["total"]


def _received(client: RpcClient, wanted: set[str], timeout_s: float = 30) -> bool:
    """Whether every kind in `wanted` arrives as an event (some may already be waiting in the buffer)."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while not wanted <= seen and time.monotonic() < deadline:
        note = client.next_notification(timeout=2)
        if note is not None and note.kind is not None:
            seen.add(note.kind)
    return wanted <= seen


def _task(d: Path, task_id: str) -> dict | None:
    done = cli(d, "task", "show", task_id, "--json", check=False)
    if done.returncode != 0:
        assert "no task" in done.stdout  # not included yet (--json: the error as JSON); anything else fails
        return None
    import json

    return json.loads(done.stdout)


def _valid_address() -> str:
    from app.core.address import encode_address
    from app.core.crypto import SigningKey

    return encode_address(SigningKey.generate().address, "potd")
