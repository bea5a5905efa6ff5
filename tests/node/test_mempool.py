"""The mempool admits only what applies on the head, chains a sender's nonces, and drops what was included."""

from __future__ import annotations

import pytest

from app.core.errors import BadNonce, InsufficientFunds, InvalidSignature
from app.core.genesis import genesis_block
from app.core.types import NO_SIGNATURE, Transfer
from app.node.mempool import Mempool, MempoolFull
from tests.node.chainkit import USER, genesis


def transfer(nonce: int, amount: int = 5, key=USER) -> Transfer:  # type: ignore[no-untyped-def]
    tx = Transfer(
        chain_id="pot-devnet",
        sender=key.public_key,
        nonce=nonce,
        recipient=bytes(20),
        amount=amount,
        fee=1,
        memo="",
        signature=NO_SIGNATURE,
    )
    return tx.signed_by(key)


def test_chains_nonces_and_refuses_duplicates_and_gaps() -> None:
    _, head = genesis_block(genesis())
    pool = Mempool()
    assert pool.add(transfer(0), head) and pool.add(transfer(1), head)
    assert not pool.add(transfer(0), head)
    with pytest.raises(BadNonce):
        pool.add(transfer(5), head)
    assert [t.nonce for t in pool.pending()] == [0, 1]


def test_refuses_bad_signatures_and_overdrafts() -> None:
    _, head = genesis_block(genesis())
    pool = Mempool()
    with pytest.raises(InvalidSignature):
        pool.add(transfer(0).replace(amount=6), head)
    with pytest.raises(InsufficientFunds):
        pool.add(transfer(0, amount=10**13), head)
    assert len(pool) == 0


def test_refresh_drops_what_the_head_included() -> None:
    _, head = genesis_block(genesis())
    pool = Mempool()
    pool.add(transfer(0), head)
    pool.add(transfer(1), head)
    after = head.apply_tx(transfer(0), bytes(20))
    pool.refresh(after)
    assert [t.nonce for t in pool.pending()] == [1]


def test_is_bounded() -> None:
    _, head = genesis_block(genesis())
    pool = Mempool(max_pending=1)
    pool.add(transfer(0), head)
    with pytest.raises(MempoolFull):
        pool.add(transfer(1), head)
