"""The gossip topics: their names, size limits, and the records each may carry.

Topic names embed the chain id, so nodes of two chains never share a mesh even on one LAN. Each
topic admits a closed set of record types, told apart by the record tag; anything else is invalid.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from app.core.encoding import Record, decode
from app.core.errors import EncodingError, SizeLimitExceeded
from app.core.types import (
    Block,
    Bond,
    Evidence,
    FraudProof,
    Proposal,
    ProposalEvidence,
    QuorumCert,
    TaskPost,
    Transfer,
    Unbond,
    Vote,
    WorkReceipt,
)
from app.net import limits
from app.net.errors import UnknownTopic

TOPIC_VERSION = 1
_CHAIN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class TopicKind(enum.Enum):
    BLOCKS = "blocks"
    VOTES = "votes"
    RECEIPTS = "receipts"
    TXS = "txs"
    TASKS = "tasks"


@dataclass(frozen=True)
class TopicRule:
    """What a topic admits: the record types (by tag) and the byte limit of one message."""

    max_bytes: int
    types: tuple[type[Record], ...]

    def type_for(self, tag: object) -> type[Record] | None:
        for t in self.types:
            if t.TAG == tag and not isinstance(tag, bool):
                return t
        return None


RULES: dict[TopicKind, TopicRule] = {
    # Finalised blocks and the leader's signed proposals (a proposal is a block plus ~100 bytes).
    TopicKind.BLOCKS: TopicRule(limits.GOSSIP_MAX_BLOCK, (Block, Proposal)),
    # Consensus traffic: votes, the certificates they form, equivocation evidence of both kinds, and
    # fraud proofs (evidence against a miner's receipt; a few KiB with their two Merkle openings).
    TopicKind.VOTES: TopicRule(limits.GOSSIP_MAX_VOTE, (Vote, QuorumCert, Evidence, ProposalEvidence, FraudProof)),
    TopicKind.RECEIPTS: TopicRule(limits.GOSSIP_MAX_RECEIPT, (WorkReceipt,)),
    TopicKind.TXS: TopicRule(limits.GOSSIP_MAX_TX, (Transfer, Bond, Unbond)),
    # Task posts get their own topic so a miner can follow new work without the whole mempool.
    TopicKind.TASKS: TopicRule(limits.GOSSIP_MAX_TASK, (TaskPost,)),
}


def check_chain_id(chain_id: str) -> str:
    if not isinstance(chain_id, str) or not _CHAIN_ID.match(chain_id):
        raise ValueError(f"chain id {chain_id!r} must be 1-64 of [a-z0-9._-]")
    return chain_id


def topic_name(chain_id: str, kind: TopicKind) -> str:
    """The GossipSub topic string, e.g. `/pot/devnet/blocks/1`."""
    return f"/pot/{check_chain_id(chain_id)}/{kind.value}/{TOPIC_VERSION}"


def kind_of(chain_id: str, topic: str) -> TopicKind:
    """Inverse of `topic_name` for this chain; `UnknownTopic` for anything else."""
    for kind in TopicKind:
        if topic_name(chain_id, kind) == topic:
            return kind
    raise UnknownTopic(f"{topic!r} is not a topic of chain {chain_id!r}")


def kind_for_record(record: Record) -> TopicKind:
    """The topic a record is published on."""
    for kind, rule in RULES.items():
        if isinstance(record, rule.types):
            return kind
    raise UnknownTopic(f"{type(record).__name__} has no gossip topic")


def decode_message(kind: TopicKind, data: bytes) -> Record:
    """Decode one gossip message of `kind`, enforcing its size limit and admitted types."""
    rule = RULES[kind]
    if len(data) > rule.max_bytes:
        raise SizeLimitExceeded(f"{kind.value} message of {len(data)} bytes exceeds {rule.max_bytes}")
    plain = decode(data, max_size=rule.max_bytes)
    if not isinstance(plain, list) or not plain:
        raise EncodingError(f"{kind.value} message is not a record")
    cls = rule.type_for(plain[0])
    if cls is None:
        raise EncodingError(f"record tag {plain[0]!r} is not allowed on the {kind.value} topic")
    if len(data) > cls.MAX_SIZE:
        raise SizeLimitExceeded(f"{cls.__name__} of {len(data)} bytes exceeds {cls.MAX_SIZE}")
    return cls.from_plain(plain)


def record_chain_id(record: Record) -> str:
    """The chain a gossiped record was made for."""
    if isinstance(record, Block):
        return record.header.chain_id
    if isinstance(record, Evidence):
        return record.vote_a.chain_id
    return getattr(record, "chain_id")
