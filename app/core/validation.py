"""Block validation: every rule a full node checks before it accepts a block on top of its head.

`validate_block` returns the state the block produces, so "valid" and "applied" can never drift
apart. Checks run cheapest first (header fields, size, body roots), then the quorum certificate's
signatures, then the body against the state (transaction and receipt signatures). A proposal is
validated with `require_qc=False`; its size is measured without the QC for the same reason, so a
proposal that was valid stays valid when its QC arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core import consensus
from app.core.encoding import Record
from app.core.errors import (
    BlockTooLarge,
    InvalidBlock,
    InvalidQuorumCertificate,
    SizeLimitExceeded,
    WrongChain,
    WrongPreviousHash,
    WrongStateRoot,
)
from app.core.merkle import merkle_root
from app.core.state import ChainState
from app.core.types import Block, BlockBody, BlockHeader, Committee


class WrongHeight(InvalidBlock):
    """A block whose height is not the head's height plus one."""


class WrongEpoch(InvalidBlock):
    """A header whose epoch is not height // epoch_length."""


class BadTimestamp(InvalidBlock):
    """A timestamp not after the parent's, or too far ahead of the local clock."""


class WrongProposer(InvalidBlock):
    """A block proposed by someone other than the leader of its (height, view)."""


class WrongBodyRoot(InvalidBlock):
    """A header root that is not the Merkle root of the matching body list."""


class WrongNextCommittee(InvalidBlock):
    """A header whose next_committee_hash is not the hash of the committee that signs the next block."""


@dataclass(frozen=True)
class BodyRoots:
    """The six Merkle roots a header carries over its body's lists (of canonical encodings)."""

    txs_root: bytes
    receipts_root: bytes
    results_root: bytes
    rewards_root: bytes
    evidence_root: bytes
    fraud_proofs_root: bytes


BODY_ROOTS = ("txs_root", "receipts_root", "results_root", "rewards_root", "evidence_root", "fraud_proofs_root")


def item_leaf(item: Record) -> bytes:
    """One body item's Merkle leaf: its canonical encoding. Every body root is over these, so a light
    client proving one item's inclusion (app/core/history.py) uses this same function."""
    return item.encode()


def items_root(items: Sequence[Record]) -> bytes:
    return merkle_root([item_leaf(item) for item in items])


def body_roots(body: BlockBody) -> BodyRoots:
    return BodyRoots(
        txs_root=items_root(body.transactions),
        receipts_root=items_root(body.receipts),
        results_root=items_root(body.results),
        rewards_root=items_root(body.rewards),
        evidence_root=items_root(body.evidence),
        fraud_proofs_root=items_root(body.fraud_proofs),
    )


def leader(committee: Committee, height: int, view: int) -> bytes:
    """The public key that may propose at (`height`, `view`): members[(height + view) % M]."""
    return committee.members[(height + view) % len(committee.members)]


def block_size(block: Block) -> int:
    """The size the limit applies to: the block's canonical encoding without its QC."""
    try:
        return len(block.replace(qc=None).encode())
    except SizeLimitExceeded as exc:
        raise BlockTooLarge(str(exc)) from None


def check_header(state: ChainState, header: BlockHeader, now_ms: int | None = None) -> None:
    """The header's linkage to `state`'s head: chain, height, parent, epoch, time and proposer."""
    params = state.params
    if header.chain_id != params.chain_id:
        raise WrongChain(f"block for chain {header.chain_id!r}, not {params.chain_id!r}")
    if header.height != state.height + 1:
        raise WrongHeight(f"block height {header.height}, the head is at {state.height}")
    if header.prev_hash != state.head_hash:
        raise WrongPreviousHash(f"block {header.height} does not link to the head {state.head_hash.hex()[:16]}")
    if header.epoch != params.epoch_of(header.height):
        raise WrongEpoch(f"epoch {header.epoch}, height {header.height} is in epoch {params.epoch_of(header.height)}")
    if header.timestamp_ms <= state.timestamp_ms:
        raise BadTimestamp(f"timestamp {header.timestamp_ms} is not after the parent's {state.timestamp_ms}")
    if now_ms is not None and header.timestamp_ms > now_ms + params.max_clock_drift_ms:
        raise BadTimestamp(f"timestamp {header.timestamp_ms} is more than {params.max_clock_drift_ms} ms ahead")
    expected = leader(state.next_committee, header.height, header.view)
    if header.proposer != expected:
        raise WrongProposer(f"proposer {header.proposer.hex()[:16]} is not the leader {expected.hex()[:16]}")


def check_body_roots(header: BlockHeader, body: BlockBody) -> None:
    roots = body_roots(body)
    for name in BODY_ROOTS:
        if getattr(header, name) != getattr(roots, name):
            raise WrongBodyRoot(f"{name} does not match the body")


def validate_block(
    state: ChainState, block: Block, *, require_qc: bool = True, now_ms: int | None = None
) -> ChainState:
    """Check `block` on top of `state` and return the state it produces; raise a specific error if invalid.

    `now_ms` (the local clock) bounds how far ahead a timestamp may be; replaying stored blocks
    passes None. `require_qc=False` validates a proposal, whose QC does not exist yet.
    """
    header = block.header
    check_header(state, header, now_ms)
    size = block_size(block)
    if size > state.params.max_block_bytes:
        raise BlockTooLarge(f"block of {size} bytes exceeds the limit of {state.params.max_block_bytes}")
    check_body_roots(header, block.body)
    if block.qc is not None:
        consensus.verify_qc(block.qc, state.next_committee, block.block_hash, state.chain_id, header.height)
    elif require_qc:
        raise InvalidQuorumCertificate(f"block {header.height} has no quorum certificate")
    new_state = state.apply_body(header, block.body)
    if new_state.state_root != header.state_root:
        raise WrongStateRoot(f"block {header.height} declares a state root its body does not produce")
    if new_state.next_committee.committee_hash != header.next_committee_hash:
        raise WrongNextCommittee(f"block {header.height} names the wrong next committee")
    return new_state
