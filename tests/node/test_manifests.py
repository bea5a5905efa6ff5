"""The manifest protocol and book: a requester's data set is learnt from peers, checked against the
task's root (a peer serving another data set's manifest is refused and penalised), kept across
restarts, and a damaged file is never served. Real libp2p hosts on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from app.miner.demo import demo_datasets
from app.net.messages import ERR_NOT_FOUND, ErrorResponse
from app.node.manifests import (
    PROTOCOL_NAME,
    ManifestBook,
    ManifestRequest,
    ManifestResponse,
    ManifestUnavailable,
    request_manifest,
)
from app.pot.datasets import DatasetManifest
from tests.net.netutil import swarm

OWN = DatasetManifest(name="shapes", shards=(b"\x01" * 32, b"\x02" * 32))
OTHER = DatasetManifest(name="shapes", shards=(b"\x03" * 32,))


def test_book_knows_shipped_data_keeps_added_manifests_across_restarts_and_ignores_damaged_files(
    tmp_path: Path,
) -> None:
    digits = demo_datasets()["digits"]
    book = ManifestBook(tmp_path)
    assert book.get(digits.root) == digits.manifest  # shipped with every node
    assert book.get(OWN.root) is None and book.shards(OWN.root) == ()
    book.add(OWN)
    assert ManifestBook(tmp_path).get(OWN.root) == OWN  # a restarted node still serves it
    assert ManifestBook(tmp_path).shards(OWN.root) == OWN.shards  # and its pruner keeps the shards
    (tmp_path / f"{OWN.root.hex()}.manifest").write_bytes(OTHER.encode())  # another data set under this name
    assert ManifestBook(tmp_path).get(OWN.root) is None
    (tmp_path / f"{OWN.root.hex()}.manifest").write_bytes(b"\x00garbage")
    assert ManifestBook(tmp_path).get(OWN.root) is None


@pytest.mark.parametrize("liar", [False, True])
def test_a_manifest_comes_from_a_peer_only_if_it_hashes_to_the_asked_root(tmp_path: Path, liar: bool) -> None:
    book = ManifestBook(tmp_path / "requester")
    book.add(OWN)

    async def honest(peer: str, req: ManifestRequest) -> ManifestResponse | ErrorResponse:
        found = book.get(req.dataset_root)
        return (
            ErrorResponse(code=ERR_NOT_FOUND, message="no such data set")
            if found is None
            else ManifestResponse(manifest=found)
        )

    async def lying(peer: str, req: ManifestRequest) -> ManifestResponse:
        return ManifestResponse(manifest=OTHER)  # the cheat: another shard list (data of its choosing)

    async def main() -> None:
        async with swarm(tmp_path, 2) as (server, client):
            server.serve(PROTOCOL_NAME, ManifestRequest, lying if liar else honest)
            peer = str(server.peer_id)
            if not liar:
                assert await request_manifest(client, peer, OWN.root) == OWN
                with pytest.raises(Exception, match="no such data set"):
                    await request_manifest(client, peer, OTHER.root)
                return
            before = client.peer_table.score(peer)
            with pytest.raises(ManifestUnavailable, match="another data set"):
                await request_manifest(client, peer, OWN.root)
            assert client.peer_table.score(peer) < before  # reported

    trio.run(main)
