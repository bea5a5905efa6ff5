"""Light client: follow signed headers from genesis over the network, then prove an account.

It never downloads a body: each header is checked by `HeaderChain` (linkage, leader, QC against the
committee, hand-overs), and the account proof a full node serves is verified against the state root
of the newest verified header. A full node's proof is for *its* head, which may be ahead of ours,
so the client syncs headers again and retries a few times before it gives up.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.accounts import AccountProof
from app.core.errors import InvalidProof
from app.core.genesis import Genesis
from app.core.types import BlockHeader, Committee
from app.net.facade import NetThread
from app.net.host import NetConfig
from app.net.topics import TopicKind
from app.node.chainfiles import Checkpoint
from app.node.committees import PROTOCOL_NAME as COMMITTEE_PROTOCOL, CommitteeRequest, CommitteeResponse
from app.node.header_index import HeaderIndex
from app.node.headers import HeaderChain, UnknownCommittee

BATCH = 256
ATTEMPTS = 8


class LightClient:
    def __init__(
        self,
        genesis: Genesis,
        net: NetThread,
        checkpoint: Checkpoint | None = None,
        index: HeaderIndex | None = None,
    ) -> None:
        """From the shipped checkpoint (no header before it is fetched), or from `index`'s resume point
        when it has one, so a restarted daemon does not verify the chain again; `sync` records there."""
        start = (checkpoint.header, checkpoint.committee) if checkpoint is not None else None
        self.index = index
        self.headers = index.resume(genesis, start) if index is not None else HeaderChain(genesis, start)
        self.net = net
        self.fetched_committees = 0  # hand-overs that needed a committee record from a full node

    def sync(self, peer: str) -> int:
        """Verify every header `peer` has past ours; return the new height."""
        while True:
            start = self.headers.height + 1
            batch = self.net.call(lambda h: h.call_headers(peer, start, BATCH), timeout_s=60)
            verified: list[BlockHeader] = []
            try:
                for signed in batch:
                    try:
                        self.headers.extend(signed)
                    except UnknownCommittee:
                        # members changed and the QC does not name them all: fetch the record by hash
                        self.headers.adopt_committee(self.fetch_committee(peer, self.headers.pending_committee_hash))
                        self.headers.extend(signed)
                    verified.append(signed.header)
            finally:  # what verified before a bad header is kept: one transaction per batch
                if self.index is not None and verified:
                    self.index.save(self.headers, verified)
            if len(batch) < BATCH:
                return self.headers.height

    def fetch_committee(self, peer: str, digest: bytes | None) -> Committee:
        """The Committee record with hash `digest` from `peer` (the caller checks it against the chain)."""
        assert digest is not None
        resp = self.net.call(
            lambda h: h.request(peer, COMMITTEE_PROTOCOL, CommitteeRequest(digest), CommitteeResponse), timeout_s=30
        )
        self.fetched_committees += 1
        return resp.committee

    def prove(self, peer: str, address: bytes) -> tuple[Any, BlockHeader]:
        """The account at `address` proven against a verified header's state root, and that header.

        The proof is for the server's head when it answered; syncing right after makes that head one
        of our recent verified headers, whose state roots are tried newest first.
        """
        for _ in range(ATTEMPTS):
            self.sync(peer)
            proof = AccountProof.decode(self.net.call(lambda h: h.call_state_proof(peer, address), timeout_s=30))
            self.sync(peer)
            for header in reversed(self.headers.recent):
                try:
                    return proof.verify(header.state_root), header
                except InvalidProof:
                    continue
        raise InvalidProof(f"no proof matched a verified header after {ATTEMPTS} attempts")

    def prove_any(self, peers: Sequence[str], address: bytes, attempts: int = 2) -> ProvenAnswer:
        """The account at `address` from the first of `peers` whose answer is proven; a peer that serves
        a proof no verified header backs (a lie about a balance), or headers that do not verify, is
        refused and the next one asked. Raises `InvalidProof` listing every refusal if none is proven."""
        refused: list[tuple[str, str]] = []
        for peer in peers:
            try:
                for _ in range(attempts):
                    self.sync(peer)
                    proof = AccountProof.decode(
                        self.net.call(lambda h: h.call_state_proof(peer, address), timeout_s=30)
                    )
                    for header in reversed(self.headers.recent):
                        try:
                            return ProvenAnswer(proof.verify(header.state_root), header, peer, tuple(refused))
                        except InvalidProof:
                            continue
                raise InvalidProof("its account proof matches no verified header's state root")
            except Exception as exc:  # noqa: BLE001 - any failure of this peer: refuse it, ask the next
                refused.append((peer, f"{type(exc).__name__}: {exc}"))
        raise InvalidProof("no peer gave a proven answer: " + "; ".join(f"{p[:12]}: {why}" for p, why in refused))


@dataclass(frozen=True)
class ProvenAnswer:
    """An account proven against a verified header, the peer that served it, and the peers refused first."""

    account: Any
    header: BlockHeader
    peer: str
    refused: tuple[tuple[str, str], ...]


def light_check(genesis: Genesis, address: bytes, bootstrap: Sequence[str], datadir: Path) -> dict[str, Any]:
    """Sync headers from a bootstrap peer and prove `address`; a JSON-able report."""
    datadir.mkdir(parents=True, exist_ok=True)
    config = NetConfig(
        chain_id=genesis.params.chain_id,
        key_path=datadir / "p2p.key",
        bootstrap=tuple(bootstrap),
        topics=(TopicKind.BLOCKS,),
    )
    net = NetThread(config)
    net.start()
    try:
        peer = net.call(lambda h: h.connect(random.choice(list(bootstrap))), timeout_s=30)
        client = LightClient(genesis, net)
        account, proven = client.prove(peer, address)
        head = client.headers.head
        return {
            "height": head.height,
            "head_hash": head.block_hash.hex(),
            "proven_height": proven.height,
            "proven_state_root": proven.state_root.hex(),
            "epoch": head.epoch,
            "committee_epoch": client.headers.committee.epoch,
            "fetched_committees": client.fetched_committees,
            "address": address.hex(),
            "balance": account.balance,
            "bond": account.bond,
            "peer": peer,
        }
    finally:
        net.stop()
