"""A small real chain for node unit tests: devnet genesis, 4 committee keys, blocks with quorum QCs."""

from __future__ import annotations

from app.core.builder import build_block
from app.core.consensus import make_qc
from app.core.crypto import SigningKey
from app.core.genesis import Genesis, genesis_block, make_devnet_genesis
from app.core.state import ChainState
from app.core.types import NO_SIGNATURE, VOTE_PRECOMMIT, Block, Vote
from app.core.validation import leader

KEYS = [SigningKey.from_seed(bytes([i + 1]) * 32) for i in range(4)]
USER = SigningKey.from_seed(bytes([42]) * 32)


def genesis() -> Genesis:
    return make_devnet_genesis([k.public_key for k in KEYS], {USER.address: 10**12}, timestamp_ms=1_000)


def certify(state: ChainState, block: Block, signers: int | None = None) -> Block:
    by_public = {k.public_key: k for k in KEYS}
    members = list(state.next_committee.members)[: signers or state.next_committee.quorum]
    votes = [
        Vote(
            chain_id=state.chain_id,
            height=block.header.height,
            view=block.header.view,
            kind=VOTE_PRECOMMIT,
            block_hash=block.block_hash,
            voter=pk,
            signature=NO_SIGNATURE,
        ).signed_by(by_public[pk])
        for pk in members
    ]
    return block.replace(qc=make_qc(votes))


def chain(n: int, g: Genesis | None = None) -> tuple[Genesis, list[Block], ChainState]:
    """`n` certified blocks after genesis and the state after the last."""
    g = g or genesis()
    _, state = genesis_block(g)
    blocks = []
    for height in range(1, n + 1):
        built = build_block(state, leader(state.next_committee, height, 0), timestamp_ms=1_000 + 1_000 * height)
        blocks.append(certify(state, built.block))
        state = built.state
    return g, blocks, state
