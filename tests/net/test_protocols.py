"""Request/response between real hosts: headers by range, blocks, state proofs, blobs; bad frames punished."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from app.core.hashing import blob_hash
from app.net.errors import BlobUnavailable, RemoteError
from app.net.framing import pack_frame
from app.net.peers import ScorePolicy
from app.net.protocols import Providers
from tests.net.netutil import make_block, make_chain, swarm, wait_until

CHAIN = make_chain(40)
BLOB = bytes(range(256)) * 1000  # 256 000 bytes: several chunks
BLOB_HASH = blob_hash(BLOB)


def serve(data: bytes):  # type: ignore[no-untyped-def]
    def reader(h: bytes, offset: int, length: int):  # type: ignore[no-untyped-def]
        return (len(data), data[offset : offset + length]) if h == BLOB_HASH else None

    return reader


def providers(i: int) -> Providers:
    if i == 0:  # an honest full node
        return Providers(
            headers=lambda start, count: CHAIN[start : start + count],
            block=lambda height, h: make_block(height) if height is not None and height < 40 else None,
            state_proof=lambda address: b"proof:" + address,
            blob=serve(BLOB),
        )
    if i == 2:  # a liar: same size, other bytes
        return Providers(blob=serve(bytes(len(BLOB))))
    return Providers()


def test_requests_and_a_verified_blob_fetch(tmp_path: Path) -> None:
    async def main() -> None:
        async with swarm(tmp_path, 3, providers=providers) as (full, client, liar):
            headers = await client.call_headers(full.peer_id, 10, 5)
            assert [h.header.height for h in headers] == [10, 11, 12, 13, 14]
            assert await client.call_headers(full.peer_id, 38, 100) == CHAIN[38:]
            block = await client.call_block(full.peer_id, height=3)
            assert block == make_block(3)
            with pytest.raises(RemoteError) as err:
                await client.call_block(full.peer_id, height=400)
            assert err.value.code == "not-found"
            assert await client.call_state_proof(full.peer_id, bytes(20)) == b"proof:" + bytes(20)

            data = await client.fetch_blob(BLOB_HASH, peers=[liar.peer_id, full.peer_id], chunk_size=64 * 1024)
            assert data == BLOB
            offences = {v.peer_id: v.offences for v in client.peers()}
            assert offences[liar.peer_id] == {"wrong-blob": 1}
            assert offences.get(full.peer_id, {}) == {}

            with pytest.raises(BlobUnavailable):
                await client.fetch_blob(blob_hash(b"nobody has this"), peers=[full.peer_id])
            with pytest.raises(BlobUnavailable):
                await client.fetch_blob(BLOB_HASH, peers=[full.peer_id], max_size=1000)

    trio.run(main)


def test_a_peer_answering_the_wrong_headers_is_penalised(tmp_path: Path) -> None:
    def wrong(i: int) -> Providers:
        return Providers(headers=lambda start, count: CHAIN[start + 1 : start + 1 + count])

    async def main() -> None:
        async with swarm(tmp_path, 2, providers=wrong) as (a, b):
            with pytest.raises(Exception, match="wrong thing"):
                await b.call_headers(a.peer_id, 0, 3)
            assert {v.peer_id: v.offences for v in b.peers()}[a.peer_id] == {"bad-response": 1}

    trio.run(main)


def test_bad_and_oversized_request_frames_close_the_stream_and_ban(tmp_path: Path) -> None:
    policy = ScorePolicy(ban_seconds=60)

    async def main() -> None:
        async with swarm(tmp_path, 2, providers=providers, configure=lambda i: {"score_policy": policy}) as (
            full,
            rogue,
        ):
            frames = [pack_frame(b"\xff\xfe", 100), (10**8).to_bytes(4, "big"), (10**8).to_bytes(4, "big")]
            for frame in frames:
                stream = await rogue._host.new_stream(ID.from_base58(full.peer_id), [TProtocol(full.ids.headers)])
                await stream.write(frame)
                with trio.fail_after(10):
                    try:
                        answer = await stream.read(100)
                    except Exception:
                        answer = b""
                assert answer == b""  # no answer: the stream was reset
            await wait_until(lambda: full.peer_table.is_banned(rogue.peer_id), what="the ban")
            offences = {v.peer_id: v.offences for v in full.peers()}[rogue.peer_id]
            assert offences == {"bad-frame": 1, "oversized": 2}
            await wait_until(lambda: not full.is_connected(rogue.peer_id), what="the disconnect")

    trio.run(main)
