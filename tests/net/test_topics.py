"""Topic names and the structural stage of gossip validation."""

from __future__ import annotations

import pytest

from app.core.encoding import encode
from app.core.errors import EncodingError, SizeLimitExceeded
from app.net import limits
from app.net.errors import UnknownTopic
from app.net.topics import TopicKind, check_chain_id, decode_message, kind_for_record, kind_of, topic_name
from tests.net.netutil import make_block, make_transfer, make_vote


def test_topic_names_embed_the_chain_and_invert() -> None:
    assert topic_name("devnet", TopicKind.BLOCKS) == "/pot/devnet/blocks/1"
    for kind in TopicKind:
        assert kind_of("devnet", topic_name("devnet", kind)) is kind
    with pytest.raises(UnknownTopic):
        kind_of("devnet", topic_name("mainnet", TopicKind.BLOCKS))


@pytest.mark.parametrize("bad", ["", "Dev", "a/b", "x" * 65, "-lead"])
def test_bad_chain_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        check_chain_id(bad)


@pytest.mark.parametrize(
    "record, kind",
    [(make_block(1), TopicKind.BLOCKS), (make_vote(), TopicKind.VOTES), (make_transfer(), TopicKind.TXS)],
)
def test_records_decode_on_their_topic_only(record, kind: TopicKind) -> None:  # type: ignore[no-untyped-def]
    assert kind_for_record(record) is kind
    assert decode_message(kind, record.encode()) == record
    other = TopicKind.RECEIPTS
    with pytest.raises(EncodingError):
        decode_message(other, record.encode())


def test_oversized_and_malformed_messages() -> None:
    with pytest.raises(SizeLimitExceeded):
        decode_message(TopicKind.VOTES, b"\x00" * (limits.GOSSIP_MAX_VOTE + 1))
    for junk in [b"", b"\xff", encode([]), encode({"a": 1}), encode([True, 1]), encode([20, "x"])]:
        with pytest.raises(EncodingError):
            decode_message(TopicKind.VOTES, junk)


def test_a_record_with_no_topic_is_refused() -> None:
    from app.core.types import Committee

    with pytest.raises(UnknownTopic):
        kind_for_record(Committee(epoch=0, members=()))
