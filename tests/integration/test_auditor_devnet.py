"""A running devnet's auditor finds a lazy miner's fake on its own and claws the reward back.

Real node processes on 127.0.0.1: one validator (its auditor on by default) and a lazy miner
(`tests/adversarial/lazy_miner.py`) that doctored one checkpoint of its round and made sure the
committee's fixed q=2 draw missed it. The receipt is included and paid (pending). Nothing in this
test builds a fraud proof: the validator's auditor picks segments of the vesting receipt at random,
re-executes them on its low-priority thread, proves the fake and publishes the proof through its
fraud desk; the next block claws the reward back and pays the validator the bounty.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from app.core.storage import Store
from app.node.devnet import Devnet, DevnetConfig

VESTING_BLOCKS = 60  # the challenge window in blocks (0.5 s each): time enough for a few audits


def _store(net: Devnet, name: str) -> Store:
    assert net.genesis is not None
    return Store(net.members[name].datadir / "chain.sqlite", net.genesis.params.chain_id)


def _fraud_proofs(net: Devnet, name: str) -> list:  # type: ignore[type-arg]
    with _store(net, name) as store:
        top = store.head().height
        return [(h, p) for h in range(1, top + 1) for p in store.block_by_height(h).body.fraud_proofs]


@pytest.mark.timeout(240)
def test_the_devnet_auditor_claws_back_a_lazy_miners_reward_on_its_own(tmp_path: Path) -> None:
    lazy_program = (
        sys.executable,
        "-m",
        "tests.adversarial.lazy_miner",
        "--committee-key",
        str(tmp_path / "v0" / "node.key"),
    )
    config = DevnetConfig(
        validators=1,
        miners=1,
        datadir=tmp_path,
        rounds=1,
        local_steps=8,
        checkpoint_interval=2,
        batch_size=16,
        block_interval_s=0.5,
        round_wait_s=1.0,
        reward_vesting_blocks=VESTING_BLOCKS,
        extra_args=("--audit-rate", "240"),
        programs=(("m0", lazy_program),),
    )
    with Devnet(config) as net:
        validator, lazy = net.members["v0"], net.members["m0"]
        paid = net.wait_for(
            lambda: (net.status("m0") or {}).get("pending", 0) > 0 and time.monotonic(), timeout_s=150, poll_s=0.25
        )
        assert "no committee draw touches it" in (lazy.datadir / "node.log").read_text()
        found = net.wait_for(lambda: _fraud_proofs(net, "v0"), timeout_s=60, poll_s=0.25)
        clawed_after_s = time.monotonic() - paid
        [(height, proof)] = found
        assert proof.receipt.miner == lazy.key.public_key
        assert proof.challenger == validator.key.address  # the bounty goes to the auditor's node
        net.wait_for(lambda: net.status("m0")["pending"] == 0, timeout_s=30, poll_s=0.25)
        assert net.status("m0")["balance"] == 0
        audit = net.status("v0")["audit"]
        assert audit["frauds"] == 1 and audit["segments"] >= 1
        log_text = (validator.datadir / "node.log").read_text()
        assert "is fraudulent" in log_text and "publishing the fraud proof" in log_text
        with _store(net, "v0") as store:
            paid_at = next(h for h in range(1, height) if store.block_by_height(h).body.receipts)
        assert height - paid_at < VESTING_BLOCKS
        print(
            f"\nauditor: fraud proof in block {height}, {height - paid_at} blocks and {clawed_after_s:.1f} s after "
            f"the receipt was paid (block {paid_at}); {audit['segments']} segment(s) audited"
        )
