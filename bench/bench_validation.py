"""Signature verification and block validation throughput, against raw Ed25519 verify in the same run.

Prints operations per second and each figure as a ratio of raw `cryptography` Ed25519 verification
measured in this process, so numbers from different machines can be compared by their ratios.

    python bench/bench_validation.py [--txs 100 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.core.builder import build_block
from app.core.consensus import make_qc
from app.core.crypto import SIG_TX, SigningKey, verify
from app.core.genesis import genesis_block, make_devnet_genesis
from app.core.params import DEVNET
from app.core.types import NO_SIGNATURE, VOTE_PRECOMMIT, Transfer, Vote
from app.core.validation import leader, validate_block


def best_rate(count: int, run: Callable[[], object], repeat: int) -> float:
    """Operations per second of the fastest of `repeat` runs (least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return count / best


def raw_verify_rate(n: int, repeat: int) -> float:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    messages = [b"message %d" % i for i in range(n)]
    signed = [(m, key.sign(m)) for m in messages]

    def run() -> None:
        for message, signature in signed:
            Ed25519PublicKey.from_public_bytes(public).verify(signature, message)

    return best_rate(n, run, repeat)


def transfers(sender: SigningKey, n: int) -> list[Transfer]:
    return [
        Transfer(DEVNET.chain_id, sender.public_key, i, b"\x01" * 20, 1, 1, "", NO_SIGNATURE).signed_by(sender)
        for i in range(n)
    ]


def protocol_verify_rate(n: int, repeat: int) -> float:
    """crypto.verify on domain-separated transfer signatures (what apply_tx pays per transaction)."""
    sender = SigningKey.generate()
    txs = transfers(sender, n)
    items = [(tx.signing_bytes(), tx.signature) for tx in txs]
    return best_rate(n, lambda: [verify(sender.public_key, s, SIG_TX, DEVNET.chain_id, m) for m, s in items], repeat)


def tx_check_rate(n: int, repeat: int) -> float:
    """Transaction.verify_signature: re-encoding for the signing bytes plus the verification."""
    txs = transfers(SigningKey.generate(), n)
    return best_rate(n, lambda: [tx.verify_signature() for tx in txs], repeat)


def block_validation_rate(n: int, repeat: int) -> tuple[float, int]:
    """Transactions per second through validate_block for one block of `n` transfers with a QC."""
    validators = [SigningKey.generate() for _ in range(4)]
    sender = SigningKey.generate()
    genesis = make_devnet_genesis([v.public_key for v in validators], {sender.address: 10**15}, timestamp_ms=1)
    _, state = genesis_block(genesis)
    proposer = leader(state.next_committee, 1, 0)
    built = build_block(state, proposer, timestamp_ms=2, transactions=transfers(sender, n))
    if len(built.block.body.transactions) != n:
        raise SystemExit(f"only {len(built.block.body.transactions)} of {n} transfers fit in a block")
    block = built.block
    votes = [
        Vote(DEVNET.chain_id, 1, 0, VOTE_PRECOMMIT, block.block_hash, v.public_key, NO_SIGNATURE).signed_by(v)
        for v in validators[:3]
    ]
    block = block.replace(qc=make_qc(votes))
    return best_rate(n, lambda: validate_block(state, block), repeat), len(block.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--sigs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    raw = raw_verify_rate(args.sigs, args.repeat)
    print(f"raw cryptography Ed25519 verify : {raw:10.0f} /s  (baseline 1.00)")
    ours = protocol_verify_rate(args.sigs, args.repeat)
    print(f"crypto.verify (domain-separated): {ours:10.0f} /s  ratio {ours / raw:.2f}")
    checked = tx_check_rate(args.sigs, args.repeat)
    print(f"Transfer.verify_signature       : {checked:10.0f} /s  ratio {checked / raw:.2f}")
    for n in args.txs:
        rate, size = block_validation_rate(n, args.repeat)
        print(f"validate_block, {n:5d} transfers : {rate:10.0f} tx/s ratio {rate / raw:.2f}  ({size} bytes)")


if __name__ == "__main__":
    main()
