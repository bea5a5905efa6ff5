"""Issue 17 row 1: a peer gossiping receipts under fresh keys and stalling their traces cannot hold a validator.

Real processes: one validator with an open task, and a real hostile libp2p peer
(`tests/adversarial/stalling_peer.py`) that publishes a receipt signed by a new key every half second
and never answers the trace request. Before the fix each receipt held the validator's single
verification thread for 10 s and the peer lost 8.8 points in all. Now the validator verifies at most
one receipt per publishing peer at a time, gives a trace 3 s, penalises a stalling publisher with a
timeout and an invalid message each time, and fetches on threads apart from the verifier and the
aggregation worker: the peer ends banned and the chain keeps finalising meanwhile.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from app.node.devnet import Devnet, DevnetConfig
from app.node.traces import TRACE_DEADLINE_S
from tests.adversarial.stalling_peer import OpenRound, stall_traces

ATTACK_S = 12.0
_LINE = re.compile(r"^(\S+ \S+) INFO app\.node\.node: (verifying receipt of|receipt of) ([0-9a-f]{12}) ")


def _verifications(log_text: str, miners: set[str]) -> list[tuple[datetime, datetime]]:
    """(asked, answered) times of the verifications of receipts from `miners` (12-hex-digit prefixes)."""
    asked: dict[str, datetime] = {}
    spans = []
    for line in log_text.splitlines():
        m = _LINE.match(line)
        if not m or m.group(3) not in miners:
            continue
        at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
        if m.group(2).startswith("verifying"):
            asked[m.group(3)] = at
        elif m.group(3) in asked:
            spans.append((asked.pop(m.group(3)), at))
    return spans


def test_a_peer_stalling_traces_of_fresh_key_receipts_is_bounded_and_banned(tmp_path: Path) -> None:
    config = DevnetConfig(
        validators=1,
        miners=0,
        datadir=tmp_path,
        rounds=1,
        local_steps=8,
        checkpoint_interval=2,
        batch_size=16,
        block_interval_s=0.5,
    )
    with Devnet(config) as net:
        assert net.genesis is not None and net.task_id is not None
        task = net.wait_for(lambda: net.task_status("v0"), timeout_s=30)
        start_height = net.status("v0")["height"]
        open_round = OpenRound(
            net.genesis.params.chain_id,
            net.task_id,
            task["round"],
            bytes.fromhex(task["checkpoint"]),
            net.spec.local_steps,
        )
        peer_id, keys = stall_traces(net.members["v0"].multiaddr, tmp_path / "hostile.p2p.key", open_round, ATTACK_S)
        assert len(keys) >= ATTACK_S / 0.5 / 2  # it kept publishing

        def banned() -> bool:
            return any(p["peer_id"] == peer_id and p["banned"] for p in net.status("v0")["peers"])

        net.wait_for(banned, timeout_s=15, poll_s=0.5)
        spans = _verifications((net.members["v0"].datadir / "node.log").read_text(), {k.hex()[:12] for k in keys})
        assert 1 <= len(spans) < len(keys)  # one at a time: most receipts were never queued
        for (_a0, b0), (a1, _) in zip(spans, spans[1:]):
            assert a1 >= b0  # never two of this peer's receipts pending at once
        assert all((b - a).total_seconds() <= TRACE_DEADLINE_S + 3 for a, b in spans)  # vs 10 s each before
        assert net.status("v0")["height"] - start_height >= ATTACK_S  # 0.5 s blocks kept coming (>= half the pace)
        print(
            f"\nstalling peer: {len(keys)} receipts published, {len(spans)} verified, "
            f"longest hold {max((b - a).total_seconds() for a, b in spans):.1f} s, banned"
        )
