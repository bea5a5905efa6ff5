"""BFT block time with 4, 16 and 32 validators, against the same run's signature-verification bound.

Two modes, both real consensus code (`BftEngine`, Ed25519 signatures, CBOR-encoded proposals and votes):

- `inproc` (default): every member is a real `BftEngine` with its own key in this one process; each
  proposal and vote is encoded to bytes, and every other member decodes it and verifies its signature,
  as it would after a loopback hop (no sockets: the 2-core machine cannot run 32 node processes
  without measuring the scheduler). All members share one core, so the wall time per block is the
  whole committee's work; `per member` divides it by the committee size (what one member's core
  spends per block when members run in parallel).
- `processes`: a real devnet (`potminer node` processes over libp2p on 127.0.0.1) with `--validators N`
  and a short block interval; block time is heights finalised per second on v0 after a warm-up.
  Every process shares this machine's cores, so large N measures CPU contention too.

The bound printed next to each row is measured in the same run: the time one member needs to verify
a quorum's signatures, twice (a quorum of prevotes and one of precommits: the least any member must
check to finalise a block). Usage: `python bench/bench_bft_scale.py [--mode inproc|processes]
[--sizes 4,16,32] [--blocks 30] [--seconds 40]`.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.bft import BftEngine, BroadcastProposal, BroadcastVote, CommitBlock, TimeoutConfig  # noqa: E402
from app.core.crypto import SigningKey  # noqa: E402
from app.core.errors import InvalidBlock  # noqa: E402
from app.core.hashing import ZERO_HASH, tagged_hash  # noqa: E402
from app.core.types import (  # noqa: E402
    VOTE_PREVOTE,
    Block,
    BlockBody,
    BlockHeader,
    Committee,
    Proposal,
    Vote,
    quorum_size,
)

CHAIN = "pot-bench"
EMPTY = BlockBody((), (), (), (), ())
GENESIS = Block(BlockHeader(CHAIN, 0, ZERO_HASH, 0, 0, 0, *([ZERO_HASH] * 7), bytes(32)), EMPTY, None)


def keys(n: int) -> list[SigningKey]:
    return [SigningKey.from_seed(hashlib.sha256(f"bench-{i}".encode()).digest()) for i in range(n)]


class _App:
    """One member's chain: validates that a block extends its head, builds the next one."""

    def __init__(self, committee: Committee) -> None:
        self._committee = committee
        self.chain = [GENESIS]

    def committee(self, height: int) -> Committee:
        return self._committee

    def validate_block(self, block: Block) -> None:
        tip = self.chain[-1]
        if block.header.height != tip.header.height + 1 or block.header.prev_hash != tip.block_hash:
            raise InvalidBlock("does not extend the head")

    def build_block(self, height: int, view: int, proposer: bytes) -> Block:
        tip = self.chain[-1]
        header = GENESIS.header.replace(
            height=height,
            prev_hash=tip.block_hash,
            view=view,
            timestamp_ms=int(time.time() * 1000),
            proposer=proposer,
            state_root=tagged_hash(b"bench", tip.block_hash),
        )
        return Block(header, EMPTY, None)


def inproc_block_time(n: int, blocks: int) -> float:
    """Seconds per finalised block, all `n` members in this process, every message encoded and decoded."""
    ks = keys(n)
    committee = Committee(0, tuple(k.public_key for k in sorted(ks, key=lambda k: k.address)))
    apps = [_App(committee) for _ in ks]
    engines = [BftEngine(CHAIN, a, k, TimeoutConfig()) for a, k in zip(apps, ks)]
    queue: deque[tuple[int, bytes, type]] = deque()  # (sender, wire bytes, record type)

    def run(i: int, actions: list) -> None:
        for a in actions:
            if isinstance(a, BroadcastProposal):
                queue.append((i, a.proposal.encode(), Proposal))
            elif isinstance(a, BroadcastVote):
                queue.append((i, a.vote.encode(), Vote))
            elif isinstance(a, CommitBlock):
                apps[i].chain.append(a.block)

    start = time.perf_counter()
    for height in range(1, blocks + 1):
        for i, e in enumerate(engines):
            run(i, e.start_height(height))
        while queue:
            sender, wire, kind = queue.popleft()
            for j, e in enumerate(engines):
                if j == sender:
                    continue
                message = kind.decode(wire)
                run(j, e.on_proposal(message) if kind is Proposal else e.on_vote(message))
        if any(len(a.chain) != height + 1 for a in apps):
            raise RuntimeError(f"height {height} did not finalise on every member without timeouts")
    elapsed = time.perf_counter() - start
    heads = {a.chain[-1].block_hash for a in apps}
    assert len(heads) == 1, "members disagree"
    return elapsed / blocks


def verify_bound(n: int, repeats: int = 5) -> float:
    """Seconds for one member to verify two quorums of votes (prevotes and precommits) of an n-member committee."""
    ks = keys(n)[: quorum_size(n)]
    votes = [Vote(CHAIN, 1, 0, VOTE_PREVOTE, b"\x01" * 32, k.public_key, bytes(64)) for k in ks]
    votes = [v.replace(signature=k.sign(v.SIG_DOMAIN, CHAIN, v.signing_bytes())) for v, k in zip(votes, ks)]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for v in votes:
            v.verify_signature()
        times.append(time.perf_counter() - t)
    return 2 * statistics.median(times)


def processes_block_time(n: int, seconds: float, interval_s: float) -> float:
    """Seconds per block on a real loopback devnet of `n` validator processes (after a warm-up)."""
    from app.node.devnet import Devnet, DevnetConfig

    with Devnet(DevnetConfig(validators=n, miners=0, post_task=False, block_interval_s=interval_s)) as net:
        h0 = net.wait_for(
            lambda: (net.status("v0") or {}).get("height", 0) >= 3 and net.status("v0")["height"],
            timeout_s=300,
            poll_s=0.2,
        )
        t0 = time.monotonic()
        time.sleep(seconds)
        h1 = net.status("v0")["height"]
        elapsed = time.monotonic() - t0
    if h1 <= h0:
        raise RuntimeError(f"no block finalised in {seconds} s with {n} validators")
    return elapsed / (h1 - h0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("inproc", "processes"), default="inproc")
    p.add_argument("--sizes", default="4,16,32")
    p.add_argument("--blocks", type=int, default=30, help="inproc: blocks per size")
    p.add_argument("--seconds", type=float, default=40.0, help="processes: measuring time per size")
    p.add_argument("--interval", type=float, default=0.05, help="processes: --block-interval of the nodes")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"mode {args.mode}; bound = one member verifying a quorum of prevotes and one of precommits")
    print(f"{'validators':>10} {'quorum':>6} {'ms/block':>9} {'per member':>10} {'bound ms':>9} {'ratio':>7}")
    for n in sizes:
        bound = verify_bound(n)
        if args.mode == "inproc":
            per_block = inproc_block_time(n, args.blocks)
            per_member = per_block / n
        else:
            per_block = processes_block_time(n, args.seconds, args.interval)
            per_member = per_block
        print(
            f"{n:>10} {quorum_size(n):>6} {per_block * 1000:>9.1f} {per_member * 1000:>10.2f} "
            f"{bound * 1000:>9.2f} {per_member / bound:>7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
