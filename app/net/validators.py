"""Gossip validation: every message is checked before it is delivered or relayed.

Two stages, hivemind RecordValidator style: the structural stage here (size limit of the topic,
canonical decoding into one of the topic's record types, the topic's chain id) and a pluggable
semantic stage the node supplies per topic (signatures, heights, committee membership...). The
verdict decides relaying and scoring: REJECT costs the forwarding peer score, IGNORE drops the
message without blame (stale or duplicate but honest), ACCEPT relays it and credits the peer.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from app.core.encoding import Record
from app.core.errors import EncodingError, PotError, SizeLimitExceeded
from app.net.peers import Offence
from app.net.reqresp import ReportFn, maybe_await
from app.net.topics import TopicKind, decode_message, record_chain_id

log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    ACCEPT = "accept"
    IGNORE = "ignore"
    REJECT = "reject"


# (forwarding peer id, decoded record) -> verdict; may be a coroutine function. Raising a PotError
# counts as REJECT.
SemanticValidator = Callable[[str, Record], "Verdict | Awaitable[Verdict]"]
MessageKey = tuple[bytes, bytes]  # (origin peer id bytes, sequence number)


class GossipValidator:
    """Runs both stages and remembers the decoded record for delivery, so nothing decodes twice."""

    def __init__(
        self, chain_id: str, self_id: str, report: ReportFn, reward: Callable[[str], None], cache_size: int = 1024
    ) -> None:
        self.chain_id = chain_id
        self._self_id = self_id
        self._report = report
        self._reward = reward
        self._semantic: dict[TopicKind, SemanticValidator] = {}
        self._decoded: OrderedDict[MessageKey, Record] = OrderedDict()
        self._cache_size = cache_size

    def set_semantic(self, kind: TopicKind, validator: SemanticValidator | None) -> None:
        if validator is None:
            self._semantic.pop(kind, None)
        else:
            self._semantic[kind] = validator

    async def check(self, kind: TopicKind, forwarder: str, data: bytes) -> tuple[Verdict, Record | None]:
        """The verdict on one message, and its record when it decoded."""
        try:
            record = decode_message(kind, data)
        except SizeLimitExceeded as exc:
            return self._reject(forwarder, Offence.OVERSIZED, kind, exc), None
        except EncodingError as exc:
            return self._reject(forwarder, Offence.INVALID_GOSSIP, kind, exc), None
        if record_chain_id(record) != self.chain_id:
            return self._reject(forwarder, Offence.INVALID_GOSSIP, kind, "record for another chain"), record
        semantic = self._semantic.get(kind)
        verdict = Verdict.ACCEPT
        if semantic is not None:
            try:
                verdict = await maybe_await(semantic(forwarder, record))
            except PotError as exc:
                return self._reject(forwarder, Offence.INVALID_GOSSIP, kind, exc), record
            except Exception:  # our own validator's bug must not be blamed on the peer
                log.exception("semantic validator for %s failed", kind.value)
                return Verdict.IGNORE, record
            if not isinstance(verdict, Verdict):
                log.error("semantic validator for %s returned %r, not a Verdict", kind.value, verdict)
                return Verdict.IGNORE, record
        if verdict is Verdict.REJECT:
            return self._reject(forwarder, Offence.INVALID_GOSSIP, kind, "semantic check"), record
        if verdict is Verdict.ACCEPT and forwarder != self._self_id:
            self._reward(forwarder)
        return verdict, record

    def _reject(self, forwarder: str, offence: Offence, kind: TopicKind, why: object) -> Verdict:
        log.info("rejected %s gossip from %s: %s", kind.value, forwarder, why)
        if forwarder != self._self_id:
            self._report(forwarder, offence)
        return Verdict.REJECT

    def remember(self, key: MessageKey, record: Record) -> None:
        self._decoded[key] = record
        while len(self._decoded) > self._cache_size:
            self._decoded.popitem(last=False)

    def forget(self, key: MessageKey) -> None:
        self._decoded.pop(key, None)

    def take(self, key: MessageKey, kind: TopicKind, data: bytes) -> Record:
        """The record validated for `key`; decodes again only if it fell out of the cache."""
        record = self._decoded.pop(key, None)
        return record if record is not None else decode_message(kind, data)
