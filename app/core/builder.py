"""Block building: the proposer's side of `validate_block`.

The builder applies items to a `StateDraft` in exactly the order `ChainState.apply_body` does
(evidence, fraud proofs, rounds, transactions, end of block), skips each item the state rejects, and stops adding
transactions at the size limit, so the block it returns passes `validate_block` by construction.
Items skipped as invalid are returned with the error that rejected them (the mempool drops those);
transactions left out for room are returned apart (they stay in the mempool).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from app.core import crypto
from app.core.accounts import apply_tx
from app.core.encoding import Record
from app.core.errors import BlockTooLarge, PotError
from app.core.fraud import apply_fraud_proofs
from app.core.hashing import ZERO_HASH
from app.core.state import ChainState, StateDraft
from app.core.tasks import InvalidRoundResult, apply_rounds, check_rounds
from app.core.types import (
    MAX_TXS_PER_BLOCK,
    AnyTransaction,
    Block,
    BlockBody,
    BlockHeader,
    Evidence,
    FraudProof,
    ProposalEvidence,
    RoundResult,
    WorkReceipt,
)
from app.core.validation import WrongProposer, block_size, body_roots, leader
from app.core.validators import apply_evidence

R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class BuiltBlock:
    """A proposal (no QC yet), the state it produces, and what was not included and why."""

    block: Block
    state: ChainState
    rejected: tuple[tuple[Record, PotError], ...]
    left_out: tuple[AnyTransaction, ...]


def build_block(
    state: ChainState,
    proposer: bytes,
    *,
    timestamp_ms: int,
    view: int = 0,
    transactions: Iterable[AnyTransaction] = (),
    results: Sequence[RoundResult] = (),
    receipts: Iterable[WorkReceipt] = (),
    evidence: Iterable[Evidence | ProposalEvidence] = (),
    fraud_proofs: Iterable[FraudProof] = (),
) -> BuiltBlock:
    """Build the next block on `state` as `proposer` (a public key, the leader of the slot).

    `timestamp_ms` is raised to the parent's plus one if the local clock lags. Each result is
    included with its receipts (looked up by `receipt_ids` among `receipts`) or skipped whole.
    `fraud_proofs` must already have passed the re-execution check (`app.pot.fraud.check_fraud_proof`);
    the builder applies only the state's checks.
    """
    height = state.height + 1
    expected = leader(state.next_committee, height, view)
    if proposer != expected:
        raise WrongProposer(f"{proposer.hex()[:16]} is not the leader of height {height} view {view}")
    proposer_address = crypto.key_hash(proposer)
    template = BlockHeader(
        chain_id=state.chain_id,
        height=height,
        prev_hash=state.head_hash,
        epoch=state.params.epoch_of(height),
        view=view,
        timestamp_ms=max(timestamp_ms, state.timestamp_ms + 1),
        state_root=ZERO_HASH,
        txs_root=ZERO_HASH,
        receipts_root=ZERO_HASH,
        results_root=ZERO_HASH,
        rewards_root=ZERO_HASH,
        evidence_root=ZERO_HASH,
        next_committee_hash=ZERO_HASH,
        proposer=proposer,
    )
    draft = StateDraft(state)
    draft.begin_block(template)
    rejected: list[tuple[Record, PotError]] = []

    included_evidence = _apply_each(evidence, lambda ev: apply_evidence(draft, [ev], proposer_address), rejected)
    included_fraud = _apply_each(fraud_proofs, lambda proof: apply_fraud_proofs(draft, [proof]), rejected)
    included_results, included_receipts = _select_rounds(draft, results, receipts, rejected)
    rewards = apply_rounds(draft, included_receipts, included_results, proposer)

    body = BlockBody(
        (), tuple(included_receipts), tuple(included_results), rewards, tuple(included_evidence), tuple(included_fraud)
    )
    room = state.params.max_block_bytes - block_size(Block(template, body, None))
    txs, left_out = _fill_transactions(draft, transactions, room, proposer_address, rejected)
    draft.end_block()

    body = replace(body, transactions=tuple(txs))
    roots = body_roots(body)
    unsealed = draft.freeze()
    header = replace(
        template,
        state_root=unsealed.state_root,
        txs_root=roots.txs_root,
        receipts_root=roots.receipts_root,
        results_root=roots.results_root,
        rewards_root=roots.rewards_root,
        evidence_root=roots.evidence_root,
        fraud_proofs_root=roots.fraud_proofs_root,
        next_committee_hash=unsealed.next_committee.committee_hash,
    )
    block = Block(header=header, body=body, qc=None)
    if block_size(block) > state.params.max_block_bytes:  # only if rounds and evidence alone overflow
        raise BlockTooLarge("the block's rounds, evidence and fraud proofs alone exceed max_block_bytes")
    return BuiltBlock(block, unsealed.with_head(block.block_hash), tuple(rejected), tuple(left_out))


def _apply_each(items: Iterable[R], apply: Callable[[R], None], rejected: list[tuple[Record, PotError]]) -> list[R]:
    """The items that `apply` accepts, in order; each refused one goes to `rejected` with its error."""
    included: list[R] = []
    for item in items:
        try:
            apply(item)
            included.append(item)
        except PotError as exc:
            rejected.append((item, exc))
    return included


def _fill_transactions(
    draft: StateDraft,
    transactions: Iterable[AnyTransaction],
    room: int,
    proposer_address: bytes,
    rejected: list[tuple[Record, PotError]],
) -> tuple[list[AnyTransaction], list[AnyTransaction]]:
    """Apply transactions in order while they fit in `room` bytes: (included, left out for room)."""
    txs: list[AnyTransaction] = []
    left_out: list[AnyTransaction] = []
    used = 0
    for tx in transactions:
        size = len(tx.encode())
        # the txs array header grows from 1 byte (< 24 items) to 3 bytes (< 65536 items)
        if len(txs) >= MAX_TXS_PER_BLOCK or used + size + _array_header_growth(len(txs) + 1) > room:
            left_out.append(tx)
            continue
        try:
            apply_tx(draft, tx, proposer_address)
        except PotError as exc:
            rejected.append((tx, exc))
            continue
        txs.append(tx)
        used += size
    return txs, left_out


def _select_rounds(
    draft: StateDraft,
    results: Sequence[RoundResult],
    receipts: Iterable[WorkReceipt],
    rejected: list[tuple[Record, PotError]],
) -> tuple[list[RoundResult], list[WorkReceipt]]:
    """Keep each result whose round checks out on its own; rounds of different tasks are independent."""
    by_id = {r.receipt_id: r for r in receipts}
    chosen: list[RoundResult] = []
    chosen_receipts: list[WorkReceipt] = []
    tasks: set[bytes] = set()
    for result in results:
        group = [by_id[rid] for rid in result.receipt_ids if rid in by_id]
        try:
            if result.task_id in tasks:
                raise InvalidRoundResult(f"a second result for task {result.task_id.hex()[:16]}")
            check_rounds(draft, group, [result])
        except PotError as exc:
            rejected.append((result, exc))
            continue
        tasks.add(result.task_id)
        chosen.append(result)
        chosen_receipts.extend(group)
    return chosen, chosen_receipts


def _array_header_growth(count: int) -> int:
    """Extra bytes of a CBOR array header for `count` items over the 1 byte of an empty array."""
    if count < 24:
        return 0
    if count < 256:
        return 1
    return 2
