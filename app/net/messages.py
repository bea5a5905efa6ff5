"""Request and response records of the request/response protocols.

They are `Record`s like every other wire type, so they share the canonical encoding, its schema
checks and its size limits. Tags 100-119 are reserved for the network layer; the state-entries
protocol's records (148-150) follow the entry proofs they carry (app/core/entryproof.py, 146-147).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from app.core.encoding import Bytes20, Bytes32, MaxLen, Range, Record, ShortText, Uint64
from app.core.entryproof import RangeProof
from app.core.errors import EncodingError
from app.core.history import HistoryItem
from app.core.types import Block, SignedHeader
from app.net import limits


class Request(Record):
    MAX_SIZE = limits.MAX_REQUEST_FRAME


class Response(Record):
    MAX_SIZE = limits.MAX_RESPONSE_FRAME


@dataclass(frozen=True)
class HeadersRequest(Request):
    """Ask for up to `count` consecutive signed headers starting at `start_height`."""

    TAG = 100
    start_height: Uint64
    count: Annotated[int, Range(1, limits.MAX_HEADERS_PER_REQUEST)]


@dataclass(frozen=True)
class HeadersResponse(Response):
    """Consecutive headers from the requested start; fewer than asked when the chain ends."""

    TAG = 101
    headers: Annotated[tuple[SignedHeader, ...], MaxLen(limits.MAX_HEADERS_PER_REQUEST)]


@dataclass(frozen=True)
class BlockRequest(Request):
    """Ask for one block by height or by hash (exactly one of the two)."""

    TAG = 102
    height: Uint64 | None
    block_hash: Bytes32 | None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.height is None) == (self.block_hash is None):
            raise EncodingError("BlockRequest needs exactly one of height and block_hash")


@dataclass(frozen=True)
class BlockResponse(Response):
    TAG = 103
    block: Block


@dataclass(frozen=True)
class StateProofRequest(Request):
    """Ask for the Merkle proof of an account against the server's latest state root."""

    TAG = 104
    address: Bytes20


@dataclass(frozen=True)
class StateProofResponse(Response):
    """The proof bytes as app.core.state encodes them; the client verifies them itself."""

    TAG = 105
    proof: Annotated[bytes, MaxLen(limits.MAX_STATE_PROOF)]


@dataclass(frozen=True)
class RangeQuery(Record):
    """One range of a state-entries request: the keys with `prefix` that are >= `start` (b"": all)."""

    TAG = 148
    prefix: Annotated[bytes, MaxLen(limits.MAX_STATE_QUERY_KEY)]
    start: Annotated[bytes, MaxLen(limits.MAX_STATE_QUERY_KEY)]


@dataclass(frozen=True)
class StateEntriesRequest(Request):
    """Ask for proven ranges of state entries (app/core/entryproof.py) against the server's head state."""

    TAG = 149
    queries: Annotated[tuple[RangeQuery, ...], MaxLen(limits.MAX_STATE_QUERIES)]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.queries:
            raise EncodingError("StateEntriesRequest needs at least one query")


@dataclass(frozen=True)
class StateEntriesResponse(Response):
    """Ranges answering the first `len(ranges)` queries, in order, all against the state at `height`.

    The client checks them with `verify_range` against the state root of its verified header at
    `height`. A server answers every query unless that would pass `limits.STATE_ENTRIES_BUDGET`.
    """

    TAG = 154
    height: Uint64
    ranges: Annotated[tuple[RangeProof, ...], MaxLen(limits.MAX_STATE_QUERIES)]


@dataclass(frozen=True)
class BlobRequest(Request):
    """Ask for `length` bytes of the blob `blob_hash` from `offset`."""

    TAG = 106
    blob_hash: Bytes32
    offset: Uint64
    length: Annotated[int, Range(1, limits.MAX_BLOB_CHUNK)]


@dataclass(frozen=True)
class BlobChunk(Response):
    """A slice of a blob and the blob's total size (so the client knows when it is done)."""

    TAG = 107
    total_size: Uint64
    offset: Uint64
    data: Annotated[bytes, MaxLen(limits.MAX_BLOB_CHUNK)]


@dataclass(frozen=True)
class ErrorResponse(Response):
    """An explicit refusal; `code` is one of the ERR_* constants."""

    TAG = 108
    code: ShortText
    message: Annotated[str, MaxLen(256)]


ERR_NOT_FOUND = "not-found"
ERR_BAD_REQUEST = "bad-request"
ERR_BUSY = "busy"
ERR_INTERNAL = "internal"
# A blob the peer will serve once it has re-computed it (a dropped checkpoint, app.miner.recompute): ask again.
ERR_PENDING = "pending"


# --------------------------------------------------------------------------- history (light client)


@dataclass(frozen=True)
class HistoryRequest(Request):
    """Ask for up to `limit` of `address`'s transactions below `before_height` (all when None), newest first."""

    TAG = 152
    address: Bytes20
    limit: Annotated[int, Range(1, limits.MAX_HISTORY_ITEMS)]
    before_height: Uint64 | None


@dataclass(frozen=True)
class HistoryResponse(Response):
    """Items each proven against its header's txs_root; the client checks the headers against its own."""

    TAG = 153
    items: Annotated[tuple[HistoryItem, ...], MaxLen(limits.MAX_HISTORY_ITEMS)]
