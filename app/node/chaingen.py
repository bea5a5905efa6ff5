"""A generator of a real signed header chain, for light-client tests and benchmarks.

Why: the light client only ever sees headers and quorum certificates, so measuring it over 100,000
blocks needs that many headers with real Ed25519 QCs, not the full block builder (whose state
transitions cost milliseconds a block). Each header links to the previous one, is proposed by the
leader of its committee, carries its epoch and a rising timestamp, announces the committee that signs
the next header, and is certified by a quorum of that committee's precommits, so it passes
`HeaderChain.extend`. State and body roots are arbitrary hashes: the light client never sees a body.

At each epoch in `rotations` one member is replaced by a fresh key (a real hand-over with changed
members); the first header of that epoch is signed by every member, so a light client can name the
new committee from the QC's signers alone (see `app.node.headers`). All other QCs carry exactly a
quorum of signatures, the rotating first `quorum` members, as a live committee's would.

Keys come from `seed`, so one (n, validators, epoch_length, seed) always gives the same chain.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Sequence

from app.core import crypto
from app.core.encoding import encode
from app.core.genesis import Genesis, genesis_block, make_devnet_genesis
from app.core.hashing import ZERO_HASH
from app.core.params import DEVNET, ChainParams
from app.core.types import (
    NO_SIGNATURE,
    VOTE_PRECOMMIT,
    BlockHeader,
    Committee,
    QuorumCert,
    SignedHeader,
    Vote,
    VoteSignature,
)
from app.core.validation import leader

BLOCK_MS = 1_000
GENESIS_MS = 1_000_000


def chain_params(validators: int, epoch_length: int) -> ChainParams:
    """The devnet rules with room for `validators` members and the given epoch length."""
    return dataclasses.replace(
        DEVNET, epoch_length=epoch_length, committee_size=max(DEVNET.committee_size, validators + 1)
    )


def make_key(seed: int, index: int) -> crypto.SigningKey:
    """The `index`-th validator key of chain `seed` (deterministic, so a chain can be regenerated)."""
    return crypto.SigningKey.from_seed(hashlib.sha256(b"chaingen/%d/%d" % (seed, index)).digest())


def make_genesis(validators: int = 4, epoch_length: int = DEVNET.epoch_length, seed: int = 0) -> Genesis:
    keys = [make_key(seed, i) for i in range(validators)]
    params = chain_params(validators, epoch_length)
    return make_devnet_genesis([k.public_key for k in keys], {}, params=params, timestamp_ms=GENESIS_MS)


def iter_headers(
    n: int,
    validators: int = 4,
    epoch_length: int = DEVNET.epoch_length,
    seed: int = 0,
    rotations: Sequence[int] = (2,),
) -> Iterator[tuple[SignedHeader, Committee]]:
    """Headers 1..n of the chain `make_genesis(validators, epoch_length, seed)` one at a time, each
    with the committee that signs the header after it (what a checkpoint at that header names).

    Streaming, so a benchmark can follow a long chain without holding it all.
    """
    genesis = make_genesis(validators, epoch_length, seed)
    params = genesis.params
    keys = {k.public_key: k for k in (make_key(seed, i) for i in range(validators))}
    block0, state0 = genesis_block(genesis)
    prev = block0.header
    signing = state0.next_committee  # the committee that signs the next header
    spare = validators
    full_qc = False
    for height in range(1, n + 1):
        nxt = signing
        if params.is_epoch_end(height):
            members = list(signing.members)
            if signing.epoch + 1 in rotations:
                fresh = make_key(seed, spare)
                spare += 1
                keys[fresh.public_key] = fresh
                members[(signing.epoch + 1) % len(members)] = fresh.public_key
            nxt = Committee(epoch=signing.epoch + 1, members=tuple(sorted(members, key=crypto.key_hash)))
        header = BlockHeader(
            chain_id=params.chain_id,
            height=height,
            prev_hash=prev.block_hash,
            epoch=params.epoch_of(height),
            view=0,
            timestamp_ms=GENESIS_MS + height * BLOCK_MS,
            state_root=hashlib.sha256(b"state/%d/%d" % (seed, height)).digest(),
            txs_root=ZERO_HASH,
            receipts_root=ZERO_HASH,
            results_root=ZERO_HASH,
            rewards_root=ZERO_HASH,
            evidence_root=ZERO_HASH,
            next_committee_hash=nxt.committee_hash,
            proposer=leader(signing, height, 0),
        )
        count = len(signing.members) if full_qc else signing.quorum
        start = height % len(signing.members)
        signers = [signing.members[(start + i) % len(signing.members)] for i in range(count)]
        yield SignedHeader(header=header, qc=certify(header, [keys[pk] for pk in signers])), nxt
        full_qc = set(nxt.members) != set(signing.members)
        prev, signing = header, nxt


def certify(header: BlockHeader, signers: Sequence[crypto.SigningKey]) -> QuorumCert:
    """A QC on `header` by `signers`: each signs the precommit vote's canonical bytes directly, which
    is what `Vote.signed_by` signs, without building a `Vote` record per signature (the slow part)."""
    block_hash, chain_id = header.block_hash, header.chain_id
    sigs = []
    for key in sorted(signers, key=lambda k: crypto.key_hash(k.public_key)):
        message = encode(
            [Vote.TAG, chain_id, header.height, header.view, VOTE_PRECOMMIT, block_hash, key.public_key, NO_SIGNATURE]
        )
        sigs.append(VoteSignature(voter=key.public_key, signature=key.sign(crypto.SIG_VOTE, chain_id, message)))
    return QuorumCert(
        chain_id=chain_id, height=header.height, view=header.view, block_hash=block_hash, signatures=tuple(sigs)
    )


def generate_headers(
    n: int,
    validators: int = 4,
    epoch_length: int = DEVNET.epoch_length,
    seed: int = 0,
    rotations: Sequence[int] = (2,),
) -> tuple[Genesis, list[SignedHeader], dict[bytes, crypto.SigningKey]]:
    """The genesis, headers 1..n and every validator key (by public key) of a generated chain."""
    headers = [sh for sh, _ in iter_headers(n, validators, epoch_length, seed, rotations)]
    keys = {k.public_key: k for k in (make_key(seed, i) for i in range(validators + len(rotations)))}
    return make_genesis(validators, epoch_length, seed), headers, keys
