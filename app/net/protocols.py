"""The request/response protocols: ids, `rpc_*` handlers (serving side) and `call_*` stubs (asking side).

Handlers are thin: check the request's bounds, ask the node's provider, shape the answer. Stubs check
that the answer is the one asked for (headers consecutive from the start asked, a block at the height
or with the hash asked, a chunk at the offset asked) and report a peer that answers something else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from app.core.entryproof import RangeProof
from app.core.history import HistoryItem
from app.core.types import Block, SignedHeader
from app.net import limits
from app.net.errors import BlobPending, FrameError
from app.net.messages import (
    ERR_BAD_REQUEST,
    ERR_NOT_FOUND,
    ERR_PENDING,
    BlobChunk,
    BlobRequest,
    BlockRequest,
    BlockResponse,
    ErrorResponse,
    HeadersRequest,
    HeadersResponse,
    HistoryRequest,
    HistoryResponse,
    RangeQuery,
    Response,
    StateEntriesRequest,
    StateEntriesResponse,
    StateProofRequest,
    StateProofResponse,
)
from app.net.peers import Offence
from app.net.reqresp import ReportFn, RequestClient, RequestServer, maybe_await
from app.net.topics import check_chain_id

PROTOCOL_VERSION = 1

# Providers the node supplies; each may be a plain function or a coroutine function.
HeadersProvider = Callable[[int, int], Sequence[SignedHeader] | Awaitable[Sequence[SignedHeader]]]
BlockProvider = Callable[[int | None, bytes | None], Block | None | Awaitable[Block | None]]
StateProofProvider = Callable[[bytes], bytes | None | Awaitable[bytes | None]]
# ([(prefix, start), ...], byte budget) -> (head height, a RangeProof per query, or fewer) or None if no state.
StateEntries = tuple[int, Sequence[RangeProof]]
StateEntriesProvider = Callable[
    [Sequence[tuple[bytes, bytes]], int], StateEntries | None | Awaitable[StateEntries | None]
]
# (blob hash, offset, length) -> (total size, bytes from offset, at most length) or None if unknown.
BlobReader = Callable[[bytes, int, int], tuple[int, bytes] | None | Awaitable[tuple[int, bytes] | None]]
# (address, limit, before_height) -> the address's proven history items, newest first.
HistoryProvider = Callable[[bytes, int, int | None], Sequence[HistoryItem] | Awaitable[Sequence[HistoryItem]]]


def protocol_id(chain_id: str, name: str) -> str:
    """e.g. `/pot/devnet/headers/1`: the chain id keeps two chains from answering each other."""
    return f"/pot/{check_chain_id(chain_id)}/{name}/{PROTOCOL_VERSION}"


@dataclass(frozen=True)
class ProtocolIds:
    headers: str
    block: str
    state_proof: str
    blob: str
    state_entries: str
    history: str

    @classmethod
    def for_chain(cls, chain_id: str) -> "ProtocolIds":
        return cls(
            headers=protocol_id(chain_id, "headers"),
            block=protocol_id(chain_id, "block"),
            state_proof=protocol_id(chain_id, "state-proof"),
            blob=protocol_id(chain_id, "blob"),
            state_entries=protocol_id(chain_id, "state-entries"),
            history=protocol_id(chain_id, "history"),
        )


@dataclass
class Providers:
    """What this node can serve; a protocol without a provider is not offered at all."""

    headers: HeadersProvider | None = None
    block: BlockProvider | None = None
    state_proof: StateProofProvider | None = None
    blob: BlobReader | None = None
    state_entries: StateEntriesProvider | None = None
    history: HistoryProvider | None = None


class ChainServicer:
    """Serving side: registers an `rpc_*` handler for each protocol that has a provider."""

    def __init__(self, ids: ProtocolIds, providers: Providers) -> None:
        self.ids = ids
        self.providers = providers

    def register(self, server: RequestServer) -> None:
        p = self.providers
        if p.headers is not None:
            server.register(self.ids.headers, HeadersRequest, self.rpc_headers)
        if p.block is not None:
            server.register(self.ids.block, BlockRequest, self.rpc_block)
        if p.state_proof is not None:
            server.register(self.ids.state_proof, StateProofRequest, self.rpc_state_proof)
        if p.blob is not None:
            server.register(self.ids.blob, BlobRequest, self.rpc_blob)
        if p.state_entries is not None:
            server.register(self.ids.state_entries, StateEntriesRequest, self.rpc_state_entries)
        if p.history is not None:
            server.register(self.ids.history, HistoryRequest, self.rpc_history)

    async def rpc_headers(self, peer: str, req: HeadersRequest) -> Response:
        assert self.providers.headers is not None
        headers = tuple(await maybe_await(self.providers.headers(req.start_height, req.count)))[: req.count]
        return HeadersResponse(headers=headers)

    async def rpc_block(self, peer: str, req: BlockRequest) -> Response:
        assert self.providers.block is not None
        block = await maybe_await(self.providers.block(req.height, req.block_hash))
        if block is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no such block")
        return BlockResponse(block=block)

    async def rpc_state_proof(self, peer: str, req: StateProofRequest) -> Response:
        assert self.providers.state_proof is not None
        proof = await maybe_await(self.providers.state_proof(req.address))
        if proof is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no state to prove against")
        return StateProofResponse(proof=proof)

    async def rpc_state_entries(self, peer: str, req: StateEntriesRequest) -> Response:
        assert self.providers.state_entries is not None
        queries = [(q.prefix, q.start) for q in req.queries]
        found = await maybe_await(self.providers.state_entries(queries, limits.STATE_ENTRIES_BUDGET))
        if found is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no state to prove against")
        height, ranges = found
        return StateEntriesResponse(height=height, ranges=tuple(ranges)[: len(queries)])

    async def rpc_blob(self, peer: str, req: BlobRequest) -> Response:
        assert self.providers.blob is not None
        try:
            found = await maybe_await(self.providers.blob(req.blob_hash, req.offset, req.length))
        except BlobPending as pending:
            return ErrorResponse(code=ERR_PENDING, message=str(pending))
        if found is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no such blob")
        total, data = found
        if req.offset > total:
            return ErrorResponse(code=ERR_BAD_REQUEST, message="offset beyond the end of the blob")
        return BlobChunk(total_size=total, offset=req.offset, data=data[: req.length])

    async def rpc_history(self, peer: str, req: HistoryRequest) -> Response:
        assert self.providers.history is not None
        items = await maybe_await(self.providers.history(req.address, req.limit, req.before_height))
        return HistoryResponse(items=tuple(items)[: req.limit])


class ChainClient:
    """Asking side: `call_*` stubs that check each answer against its question."""

    def __init__(self, ids: ProtocolIds, client: RequestClient, report: ReportFn) -> None:
        self.ids = ids
        self._client = client
        self._report = report

    def _wrong(self, peer: str, why: str) -> FrameError:
        self._report(peer, Offence.BAD_RESPONSE)
        return FrameError(f"peer {peer} answered the wrong thing: {why}")

    async def call_headers(self, peer: str, start_height: int, count: int) -> list[SignedHeader]:
        count = min(count, limits.MAX_HEADERS_PER_REQUEST)
        resp = await self._client.call(peer, self.ids.headers, HeadersRequest(start_height, count), HeadersResponse)
        if len(resp.headers) > count:
            raise self._wrong(peer, f"{len(resp.headers)} headers for {count} asked")
        for i, sh in enumerate(resp.headers):
            if sh.header.height != start_height + i:
                raise self._wrong(peer, f"header {i} has height {sh.header.height}, not {start_height + i}")
        return list(resp.headers)

    async def call_block(self, peer: str, *, height: int | None = None, block_hash: bytes | None = None) -> Block:
        resp = await self._client.call(peer, self.ids.block, BlockRequest(height, block_hash), BlockResponse)
        block = resp.block
        if height is not None and block.header.height != height:
            raise self._wrong(peer, f"block at height {block.header.height}, not {height}")
        if block_hash is not None and block.block_hash != block_hash:
            raise self._wrong(peer, "block with another hash")
        return block

    async def call_state_proof(self, peer: str, address: bytes) -> bytes:
        resp = await self._client.call(peer, self.ids.state_proof, StateProofRequest(address), StateProofResponse)
        return resp.proof

    async def call_state_entries(self, peer: str, queries: Sequence[RangeQuery]) -> StateEntriesResponse:
        """Proven ranges for the first queries (at least one); the caller verifies them (`verify_range`)
        against its verified header at the answer's height, and asks again for any queries left over."""
        req = StateEntriesRequest(tuple(queries))
        resp = await self._client.call(peer, self.ids.state_entries, req, StateEntriesResponse)
        if not 1 <= len(resp.ranges) <= len(queries):
            raise self._wrong(peer, f"{len(resp.ranges)} ranges for {len(queries)} queries")
        for i, (q, rp) in enumerate(zip(queries, resp.ranges)):
            if (rp.prefix, rp.start) != (q.prefix, q.start):
                raise self._wrong(peer, f"range {i} answers another query")
        return resp

    async def call_blob_chunk(self, peer: str, blob_hash: bytes, offset: int, length: int) -> BlobChunk:
        length = min(length, limits.MAX_BLOB_CHUNK)
        chunk = await self._client.call(peer, self.ids.blob, BlobRequest(blob_hash, offset, length), BlobChunk)
        if chunk.offset != offset or len(chunk.data) > length or offset + len(chunk.data) > chunk.total_size:
            raise self._wrong(peer, "chunk does not match the request")
        if not chunk.data and offset < chunk.total_size:
            raise self._wrong(peer, "empty chunk before the end of the blob")
        return chunk

    # ------------------------------------------------------------------ history (light client)

    async def call_history(
        self, peer: str, address: bytes, limit: int, before_height: int | None = None
    ) -> HistoryResponse:
        """Up to `limit` (1..64) proven history items of `address` below `before_height`, newest first.

        Checked here: no more items than asked, all below `before_height`, strictly newest first (no
        repeats). The caller proves each item against its own verified headers
        (`app.core.history.verify_history_item`).
        """
        limit = max(1, min(limit, limits.MAX_HISTORY_ITEMS))
        request = HistoryRequest(address, limit, before_height)
        resp = await self._client.call(peer, self.ids.history, request, HistoryResponse)
        if len(resp.items) > limit:
            raise self._wrong(peer, f"{len(resp.items)} history items for {limit} asked")
        last: tuple[int, int] | None = None
        for item in resp.items:
            key = (item.header.height, item.index)
            if before_height is not None and key[0] >= before_height:
                raise self._wrong(peer, f"a history item at height {key[0]}, not below {before_height}")
            if last is not None and key >= last:
                raise self._wrong(peer, "history items not newest first")
            last = key
        return resp
