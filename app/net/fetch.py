"""Hash-verified blob download (checkpoints, updates, dataset shards) from any of several peers.

A blob comes whole from one peer at a time, in chunks, and is checked against its content address
(`blob_hash`) at the end: a blob hash covers only the whole content, so mixing chunks of several
peers would make a bad blob impossible to blame. A peer that serves other bytes is penalised hard
and the next peer is tried; the best-scored peers are tried first. A peer that answers "pending" (a miner
re-computing a checkpoint it did not keep) is asked again every `limits.PENDING_POLL_S`, for at most
`limits.MAX_PENDING_WAIT_S` (or the call's own `max_pending_wait_s`); then it counts as not serving the
blob, and when no peer served it the fetch raises `BlobNotReady`, which a caller with a longer deadline
of its own (a verifier waiting for a re-computation as long as a round may take) turns into "ask again
later" without holding a thread meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import trio

from app.core.hashing import blob_hash as compute_blob_hash
from app.net import limits
from app.net.errors import BlobHashMismatch, BlobNotReady, BlobUnavailable, NetError, RemoteError
from app.net.messages import ERR_PENDING
from app.net.peers import Offence, PeerTable
from app.net.protocols import ChainClient
from app.net.reqresp import ReportFn

log = logging.getLogger(__name__)


class BlobFetcher:
    def __init__(
        self,
        client: ChainClient,
        peers: PeerTable,
        report: ReportFn,
        pending_poll_s: float = limits.PENDING_POLL_S,
        max_pending_wait_s: float = limits.MAX_PENDING_WAIT_S,
    ) -> None:
        self._client = client
        self._peers = peers
        self._report = report
        self.pending_poll_s = pending_poll_s
        self.max_pending_wait_s = max_pending_wait_s  # then "pending" is a failure like "not found"

    async def fetch(
        self,
        blob_hash: bytes,
        candidates: Sequence[str],
        max_size: int = limits.DEFAULT_MAX_BLOB,
        chunk_size: int = limits.DEFAULT_BLOB_CHUNK,
        max_pending_wait_s: float | None = None,
    ) -> bytes:
        """Return the blob's bytes, or raise `BlobUnavailable` listing why each peer failed (`BlobNotReady`
        when one was still preparing it after `max_pending_wait_s`, default `self.max_pending_wait_s`)."""
        if len(blob_hash) != 32:
            raise ValueError("a blob hash is 32 bytes")
        if not 1 <= chunk_size <= limits.MAX_BLOB_CHUNK:
            raise ValueError(f"chunk_size must be in [1, {limits.MAX_BLOB_CHUNK}]")
        order = sorted(
            (p for p in dict.fromkeys(candidates) if not self._peers.is_banned(p)), key=lambda p: -self._peers.score(p)
        )
        wait_s = self.max_pending_wait_s if max_pending_wait_s is None else max_pending_wait_s
        failures: list[str] = []
        preparing = False
        for peer in order:
            try:
                return await self.fetch_from(peer, blob_hash, max_size, chunk_size, wait_s)
            except NetError as exc:
                preparing = preparing or isinstance(exc, RemoteError) and exc.code == ERR_PENDING
                failures.append(f"{peer}: {exc}")
                log.info("blob %s from %s failed: %s", blob_hash.hex()[:16], peer, exc)
        why = f"blob {blob_hash.hex()[:16]} unavailable ({'; '.join(failures) or 'no peers'})"
        if preparing:
            raise BlobNotReady(why, self.pending_poll_s)
        raise BlobUnavailable(why)

    async def fetch_from(
        self, peer: str, blob_hash: bytes, max_size: int, chunk_size: int, max_pending_wait_s: float
    ) -> bytes:
        parts: list[bytes] = []
        offset = 0
        total: int | None = None
        waited = 0.0
        while total is None or offset < total:
            try:
                chunk = await self._client.call_blob_chunk(peer, blob_hash, offset, chunk_size)
            except RemoteError as exc:
                if exc.code != ERR_PENDING or waited >= max_pending_wait_s:
                    raise
                log.info("blob %s: %s is preparing it (%s)", blob_hash.hex()[:16], peer, exc.message)
                await trio.sleep(self.pending_poll_s)
                waited += self.pending_poll_s
                continue
            if total is None:
                if chunk.total_size > max_size:
                    raise BlobUnavailable(f"blob of {chunk.total_size} bytes exceeds the limit of {max_size}")
                total = chunk.total_size
            elif chunk.total_size != total:
                self._report(peer, Offence.BAD_RESPONSE)
                raise BlobHashMismatch(f"peer {peer} changed the blob size mid-download")
            parts.append(chunk.data)
            offset += len(chunk.data)
        data = b"".join(parts)
        if compute_blob_hash(data) != blob_hash:
            self._report(peer, Offence.WRONG_BLOB)
            raise BlobHashMismatch(f"peer {peer} served bytes that do not hash to {blob_hash.hex()[:16]}")
        return data
