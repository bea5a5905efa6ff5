"""The light client's header chain: linkage, leader and quorum certificate checks, committee hand-overs.

Pure: it holds the last verified header and the committee that signs the next one, and `extend`
accepts the next signed header or raises. A header that ends an epoch names the next committee by
hash only; the members are taken to be unchanged if that hash matches, or else the signers of the
next header's QC if they hash to it (`UnknownCommittee` otherwise: the light client then fetches the
Committee record by hash from a full node and hands it to `adopt_committee`, which checks the hash).
"""

from __future__ import annotations

from collections import deque

from app.core import crypto
from app.core.consensus import verify_qc
from app.core.errors import InvalidBlock
from app.core.genesis import Genesis, genesis_block
from app.core.types import BlockHeader, Committee, SignedHeader
from app.core.validation import leader

RECENT = 64  # verified headers kept for proofs made against a slightly older head


class HeaderChainError(InvalidBlock):
    """A header that does not extend the verified chain."""


class UnknownCommittee(HeaderChainError):
    """The next committee changed members and cannot be derived from headers alone."""


class HeaderChain:
    def __init__(self, genesis: Genesis, start: tuple[BlockHeader, Committee] | None = None) -> None:
        """From genesis, or from a trusted checkpoint `start` (a header and the committee that signs
        the next one; `app.node.chainfiles.load_checkpoint` checks that the header announces it)."""
        block0, state0 = genesis_block(genesis)
        self.chain_id = genesis.params.chain_id
        self.params = genesis.params
        self.head: BlockHeader = block0.header
        self.committee: Committee = state0.next_committee
        if start is not None:
            header, committee = start
            if header.chain_id != self.chain_id or committee.committee_hash != header.next_committee_hash:
                raise HeaderChainError("the checkpoint is for another chain or does not announce its committee")
            self.head, self.committee = header, committee
        self._pending_hash: bytes | None = None  # next committee known by hash only
        self.recent: deque[BlockHeader] = deque([self.head], maxlen=RECENT)

    @property
    def height(self) -> int:
        return self.head.height

    def extend(self, signed: SignedHeader) -> None:
        """Verify `signed` as the next header and make it the head."""
        h, qc = signed.header, signed.qc
        if h.chain_id != self.chain_id or h.height != self.head.height + 1:
            raise HeaderChainError(f"header {h.height} does not follow {self.head.height}")
        if h.prev_hash != self.head.block_hash:
            raise HeaderChainError(f"header {h.height} does not link to the verified head")
        if h.epoch != self.params.epoch_of(h.height) or h.timestamp_ms <= self.head.timestamp_ms:
            raise HeaderChainError(f"header {h.height} has a wrong epoch or timestamp")
        if qc is None:
            raise HeaderChainError(f"header {h.height} carries no quorum certificate")
        if self._pending_hash is not None:
            self._adopt_from_signers(qc.signatures, h.epoch)
        if h.proposer != leader(self.committee, h.height, h.view):
            raise HeaderChainError(f"header {h.height} was proposed by a non-leader")
        verify_qc(qc, self.committee, h.block_hash, self.chain_id, h.height)
        self.head = h
        self.recent.append(h)
        if h.next_committee_hash != self.committee.committee_hash:
            same = Committee(epoch=self.committee.epoch + 1, members=self.committee.members)
            if same.committee_hash == h.next_committee_hash:
                self.committee = same
            else:
                self._pending_hash = h.next_committee_hash

    @property
    def pending_committee_hash(self) -> bytes | None:
        """The announced hash of the next committee while its members are not known yet."""
        return self._pending_hash

    def adopt_committee(self, committee: Committee) -> None:
        """Take the announced next committee from a record fetched from any peer (checked by hash)."""
        if self._pending_hash is None:
            raise HeaderChainError("no committee hand-over is pending")
        if committee.committee_hash != self._pending_hash:
            raise HeaderChainError("the committee served does not hash to the one the chain announced")
        if committee.epoch != self.committee.epoch + 1:
            raise HeaderChainError(
                f"the committee served is for epoch {committee.epoch}, expected {self.committee.epoch + 1}"
            )
        self.committee, self._pending_hash = committee, None

    def _adopt_from_signers(self, signatures, epoch: int) -> None:  # type: ignore[no-untyped-def]
        members = tuple(sorted((s.voter for s in signatures), key=crypto.key_hash))
        candidate = Committee(epoch=epoch, members=members)
        if candidate.committee_hash != self._pending_hash:
            raise UnknownCommittee(f"the committee of epoch {epoch} changed members; headers alone cannot name them")
        self.committee, self._pending_hash = candidate, None
