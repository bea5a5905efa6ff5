"""Header-first catch-up: fetch signed headers past the local head, check their linkage, then bodies.

Runs on an I/O thread against the NetThread; the blocks it returns are committed by the node loop
through `ChainManager.commit`, which checks each QC against the committee and replays the body, so a
peer can waste our time but never make us store something invalid.
"""

from __future__ import annotations

import logging
import random

from app.core.types import Block
from app.net.facade import NetThread

log = logging.getLogger(__name__)

BATCH = 64
CALL_TIMEOUT_S = 30.0


class SyncError(Exception):
    """A peer's headers or blocks do not link to our head or to each other."""


def fetch_ahead(net: NetThread, height: int, head_hash: bytes, batch: int = BATCH) -> list[Block]:
    """Up to `batch` blocks after (`height`, `head_hash`) from the first peer that has any."""
    peers = net.call(lambda h: _connected(h))
    random.shuffle(peers)
    for peer in peers:
        try:
            return _from_peer(net, peer, height, head_hash, batch)
        except Exception as exc:  # noqa: BLE001 - try the next peer
            log.info("sync from %s failed: %s", peer, exc)
    return []


async def _connected(host) -> list[str]:  # type: ignore[no-untyped-def]
    return host.connected_peers()


def _from_peer(net: NetThread, peer: str, height: int, head_hash: bytes, batch: int) -> list[Block]:
    headers = net.call(lambda h: h.call_headers(peer, height + 1, batch), CALL_TIMEOUT_S)
    prev = head_hash
    for sh in headers:
        if sh.header.prev_hash != prev:
            raise SyncError(f"header {sh.header.height} does not link to {prev.hex()[:16]}")
        if sh.qc is None or sh.qc.block_hash != sh.header.block_hash:
            raise SyncError(f"header {sh.header.height} has no certificate for itself")
        prev = sh.header.block_hash
    blocks: list[Block] = []
    for sh in headers:
        block = net.call(lambda h: h.call_block(peer, block_hash=sh.header.block_hash), CALL_TIMEOUT_S)
        if block.header != sh.header:
            raise SyncError(f"block {sh.header.height} differs from its header")
        blocks.append(block if block.qc is not None else block.replace(qc=sh.qc))
    if blocks:
        log.info("fetched blocks %d..%d from %s", height + 1, height + len(blocks), peer)
    return blocks
