"""Helpers for the network tests: valid records, and swarms of real hosts on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import trio

from app.core.crypto import SigningKey
from app.core.types import Block, BlockBody, BlockHeader, SignedHeader, Transfer, Vote
from app.net.host import NetConfig, NetHost
from app.net.protocols import Providers

CHAIN = "testnet"


def make_header(height: int, chain_id: str = CHAIN, prev: bytes = bytes(32)) -> BlockHeader:
    return BlockHeader(
        chain_id=chain_id,
        height=height,
        prev_hash=prev,
        epoch=0,
        view=0,
        timestamp_ms=1_000 * height,
        state_root=bytes(32),
        txs_root=bytes(32),
        receipts_root=bytes(32),
        results_root=bytes(32),
        rewards_root=bytes(32),
        evidence_root=bytes(32),
        next_committee_hash=bytes(32),
        proposer=bytes(32),
    )


def make_block(height: int, chain_id: str = CHAIN) -> Block:
    body = BlockBody(transactions=(), receipts=(), results=(), rewards=(), evidence=())
    return Block(header=make_header(height, chain_id), body=body, qc=None)


def make_chain(n: int) -> list[SignedHeader]:
    return [SignedHeader(header=make_header(h), qc=None) for h in range(n)]


def make_vote(height: int = 1, chain_id: str = CHAIN) -> Vote:
    key = SigningKey.from_seed(bytes([7]) * 32)
    vote = Vote(
        chain_id=chain_id,
        height=height,
        view=0,
        kind=1,
        block_hash=bytes(32),
        voter=key.public_key,
        signature=bytes(64),
    )
    return vote.signed_by(key)


def make_transfer(nonce: int = 0) -> Transfer:
    key = SigningKey.from_seed(bytes([9]) * 32)
    tx = Transfer(
        chain_id=CHAIN,
        sender=key.public_key,
        nonce=nonce,
        recipient=bytes(20),
        amount=5,
        fee=1,
        memo="",
        signature=bytes(64),
    )
    return tx.signed_by(key)


@asynccontextmanager
async def swarm(
    tmp: Path,
    n: int,
    providers: Callable[[int], Providers] | None = None,
    configure: Callable[[int], dict] | None = None,
) -> AsyncIterator[list[NetHost]]:
    """`n` hosts in a line (each dials the previous one), all joined to every topic."""
    async with AsyncExitStack() as stack:
        hosts: list[NetHost] = []
        for i in range(n):
            extra = configure(i) if configure else {}
            cfg = NetConfig(chain_id=CHAIN, key_path=tmp / f"node{i}" / "p2p.key", heartbeat_s=0.2, **extra)
            hosts.append(await stack.enter_async_context(NetHost.open(cfg, providers(i) if providers else None)))
        for i in range(1, n):
            await hosts[i].connect(hosts[i - 1].listen_addrs[0])
        yield hosts


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 15.0, what: str = "condition") -> None:
    """Poll a condition; generous timeouts, never a fixed sleep."""
    with trio.move_on_after(timeout_s):
        while not predicate():
            await trio.sleep(0.02)
        return
    raise AssertionError(f"timed out waiting for {what}")
