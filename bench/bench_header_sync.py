"""Light-client header sync speed: signed headers verified per second, against raw Ed25519 verification.

Two starts, both verified: from genesis (every header) and from a trusted checkpoint at 90% of the
chain (the shipped `checkpoint.json` form, loaded and checked by `app.node.chainfiles`), which only
verifies the headers after it; the time to reach the head is printed for both.

Builds a real chain (the block builder, a 4-member devnet committee, precommit QCs of a quorum of 3),
then times `HeaderChain.extend` over its signed headers and, in the same run, raw `cryptography`
Ed25519 verification of as many signatures as those QCs carry. A header costs one QC check (quorum
signatures) plus hashing and linkage, so the ratio says how close header sync is to its signature bound.

    python bench/bench_header_sync.py [--headers 1000] [--repeat 3] [--checkpoint-at 0.9]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.core.builder import build_block
from app.core.consensus import make_qc
from app.core.crypto import SigningKey
from app.core.genesis import genesis_block, make_devnet_genesis
from app.core.types import NO_SIGNATURE, VOTE_PRECOMMIT, SignedHeader, Vote
from app.core.validation import leader
from app.node.chainfiles import Checkpoint, checkpoint_json, load_checkpoint
from app.node.headers import HeaderChain


def make_chain(n: int, checkpoint_at: int = 0) -> tuple[object, list[SignedHeader], int, object]:
    keys = [SigningKey.generate() for _ in range(4)]
    by_public = {k.public_key: k for k in keys}
    genesis = make_devnet_genesis([k.public_key for k in keys], {}, timestamp_ms=1_000)
    _, state = genesis_block(genesis)
    headers: list[SignedHeader] = []
    sigs = 0
    checkpoint = None
    for height in range(1, n + 1):
        proposer = leader(state.next_committee, height, 0)
        built = build_block(state, proposer, timestamp_ms=1_000 + height * 1_000)
        block = built.block
        signers = list(state.next_committee.members)[: state.next_committee.quorum]
        votes = [
            Vote(
                chain_id=state.chain_id,
                height=height,
                view=0,
                kind=VOTE_PRECOMMIT,
                block_hash=block.block_hash,
                voter=pk,
                signature=NO_SIGNATURE,
            ).signed_by(by_public[pk])
            for pk in signers
        ]
        headers.append(SignedHeader(header=block.header, qc=make_qc(votes)))
        sigs += len(votes)
        state = built.state
        if height == checkpoint_at:
            checkpoint = Checkpoint(block.header, state.next_committee)
    return genesis, headers, sigs, checkpoint


def time_best(run, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--headers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--checkpoint-at", type=float, default=0.9, help="checkpoint height as a share of the chain")
    args = parser.parse_args()
    cp_height = max(1, min(args.headers - 1, int(args.headers * args.checkpoint_at)))
    genesis, headers, sigs, checkpoint = make_chain(args.headers, cp_height)
    with tempfile.TemporaryDirectory() as tmp:  # the file form a chain ships, parsed and checked
        path = Path(tmp) / "checkpoint.json"
        path.write_text(checkpoint_json(checkpoint))  # type: ignore[arg-type]
        shipped = load_checkpoint(path, genesis)  # type: ignore[arg-type]

    def sync() -> None:
        chain = HeaderChain(genesis)  # type: ignore[arg-type]
        for sh in headers:
            chain.extend(sh)

    def sync_from_checkpoint() -> None:
        chain = HeaderChain(genesis, (shipped.header, shipped.committee))  # type: ignore[arg-type]
        for sh in headers[cp_height:]:
            chain.extend(sh)
        assert chain.head == headers[-1].header

    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    signed = [(b"vote %d" % i, key.sign(b"vote %d" % i)) for i in range(sigs)]

    def raw() -> None:
        for message, signature in signed:
            public.verify(signature, message)

    t_sync = time_best(sync, args.repeat)
    t_raw = time_best(raw, args.repeat)
    t_cp = time_best(sync_from_checkpoint, args.repeat)
    header_rate = len(headers) / t_sync
    sig_rate = sigs / t_raw
    print(f"headers verified per second : {header_rate:10.0f}  ({len(headers)} headers, {sigs} QC signatures)")
    print(f"raw Ed25519 verifies per sec: {sig_rate:10.0f}")
    print(f"signatures per header       : {sigs / len(headers):10.2f}")
    print(f"header sync / signature bound: {header_rate * sigs / len(headers) / sig_rate:9.2f}")
    print(f"to the head from genesis     : {t_sync * 1000:10.1f} ms  ({len(headers)} headers verified)")
    print(
        f"to the head from checkpoint  : {t_cp * 1000:10.1f} ms  (checkpoint at {cp_height}, "
        f"{len(headers) - cp_height} headers verified)"
    )
    print(f"checkpoint start speed-up    : {t_sync / t_cp:10.2f}x")


if __name__ == "__main__":
    main()
