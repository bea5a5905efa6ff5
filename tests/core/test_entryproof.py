"""Proven state entries: every honest range verifies and equals the truth, and every cheat is refused.

States are random sorted key sets under several prefixes (b"a", b"r", b"t" with suffixes that make
prefixes of one another), built into a real `ChainState` so that the real `prove_range` serves them.
A cheating server is an honest answer changed one way; `verify_range` must raise `InvalidProof`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from app.core.accounts import state_leaf
from app.core.encoding import encode
from app.core.entryproof import (
    MAX_RANGE_ENTRIES,
    MAX_VALUE_LEN,
    EntryProof,
    RangeProof,
    verify_entry_or_absent,
    verify_range,
)
from app.core.errors import EncodingError, InvalidProof
from app.core.hashing import ZERO_HASH
from app.core.merkle import merkle_proof, merkle_proofs, merkle_root
from app.core.state import ChainState
from app.core.tasks import TaskState
from app.core.types import MAX_COMMITTEE, Committee, TaskSpec
from app.core.validators import MAX_SLASHED_PER_EPOCH, Offence, SlashedOffences
from tests.core.chainkit import Chain

BASE = Chain().state
U64 = 2**64 - 1

keys = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from([b"a", b"r", b"t", b"m"]),
    st.binary(max_size=4).map(lambda b: bytes(x % 4 for x in b)),  # small alphabet: shared prefixes
)
entry_maps = st.dictionaries(keys, st.binary(max_size=24), min_size=1, max_size=40)
prefixes = st.sampled_from([b"", b"a", b"r", b"t", b"m", b"t\x00", b"t\x01\x02", b"b", b"z"])


def state_of(entries: dict[bytes, bytes]) -> ChainState:
    """A ChainState committing to exactly `entries` (the typed maps are unused by proofs)."""
    leaves = {k: state_leaf(k, v) for k, v in entries.items()}
    return ChainState(
        BASE.params, BASE.meta, BASE.committee, BASE.next_committee, BASE.head_hash, {}, {}, entries, leaves
    )


def truth(entries: dict[bytes, bytes], prefix: bytes, start: bytes) -> dict[bytes, bytes]:
    return {k: entries[k] for k in sorted(entries) if k.startswith(prefix) and k >= max(prefix, start)}


@st.composite
def queries(draw: st.DrawFn) -> tuple[dict[bytes, bytes], bytes, bytes]:
    entries = draw(entry_maps)
    prefix = draw(prefixes)
    start = draw(st.one_of(st.just(b""), st.sampled_from(sorted(entries)), keys))
    return entries, prefix, start


@st.composite
def busy_queries(draw: st.DrawFn) -> tuple[dict[bytes, bytes], bytes, bytes]:
    """Ranges that mostly hold several entries and have neighbours, so that every cheat has room."""
    entries = draw(st.dictionaries(keys, st.binary(max_size=8), min_size=6, max_size=40))
    prefix = draw(st.sampled_from(sorted({k[:n] for k in entries for n in (0, 1)})))
    start = draw(st.one_of(st.just(b""), st.sampled_from(sorted(entries))))
    return entries, prefix, start


# --------------------------------------------------------------------------- honest answers


@given(queries(), st.integers(1, 8))
def test_every_range_verifies_and_equals_the_true_set(q: tuple[dict[bytes, bytes], bytes, bytes], limit: int) -> None:
    entries, prefix, start = q
    state = state_of(entries)
    want = truth(entries, prefix, start)
    page = verify_range(state.state_root, state.prove_range(prefix, start, limit))
    assert list(page.entries.items()) == list(want.items())[: len(page.entries)]
    assert page.truncated == (len(want) > limit)
    if page.truncated:
        assert len(page.entries) == limit and page.next_start == list(want)[limit]
    else:
        assert page.entries == want and page.next_start is None


@given(queries(), st.integers(1, 5), st.one_of(st.none(), st.integers(0, 3000)))
def test_pagination_reassembles_the_whole_set(
    q: tuple[dict[bytes, bytes], bytes, bytes], limit: int, max_bytes: int | None
) -> None:
    entries, prefix, start = q
    state = state_of(entries)
    got: dict[bytes, bytes] = {}
    pages = 0
    while True:
        page = verify_range(state.state_root, state.prove_range(prefix, start, limit, max_bytes=max_bytes))
        assert not got.keys() & page.entries.keys()
        got.update(page.entries)
        pages += 1
        if page.next_start is None:
            break
        assert page.truncated and page.entries  # every page goes forward
        start = page.next_start
    assert got == truth(entries, prefix, q[2])
    assert pages <= len(entries) + 1


@given(entry_maps, keys)
def test_presence_and_absence_of_one_key(entries: dict[bytes, bytes], key: bytes) -> None:
    state = state_of(entries)
    for k in (key, *list(entries)[:3]):
        got = verify_entry_or_absent(state.state_root, state.prove_range(k), k)
        assert got == entries.get(k)


def test_an_absence_needs_the_range_of_that_key() -> None:
    state = state_of({b"a1": b"x", b"t1": b"y"})
    with pytest.raises(InvalidProof, match="not key"):
        verify_entry_or_absent(state.state_root, state.prove_range(b"a"), b"a0")
    with pytest.raises(InvalidProof, match="not key"):
        verify_entry_or_absent(state.state_root, state.prove_range(b"t1", start=b"t2"), b"t1")


def test_the_empty_state_proves_every_range_empty() -> None:
    empty = state_of({})
    assert empty.state_root == ZERO_HASH
    rp = empty.prove_range(b"t")
    assert rp.before is None and rp.after is None and rp.entries == ()
    assert verify_range(ZERO_HASH, rp).entries == {}
    with pytest.raises(InvalidProof):
        verify_range(state_of({b"t": b""}).state_root, rp)


def test_a_real_chain_lists_its_tasks_rewards_and_accounts() -> None:
    chain = Chain()
    chain.advance([chain.post_task(chain.users[0]), chain.post_task(chain.users[1]), chain.post_task(chain.users[2])])
    state = chain.state
    tasks = verify_range(state.state_root, state.prove_range(b"t"))
    assert {k[1:] for k in tasks.entries} == set(state.tasks()) and len(tasks.entries) == 3
    assert all(TaskState.decode(v) == state.task(k[1:]) for k, v in tasks.entries.items())
    accounts = verify_range(state.state_root, state.prove_range(b"a"))
    assert {k[1:] for k in accounts.entries} == set(state.accounts())
    assert verify_range(state.state_root, state.prove_range(b"r")).entries == {}
    user = chain.users[0].address
    assert verify_entry_or_absent(state.state_root, state.prove_range(b"a" + user), b"a" + user) is not None
    assert verify_entry_or_absent(state.state_root, state.prove_range(b"a" + bytes(20)), b"a" + bytes(20)) is None


# --------------------------------------------------------------------------- cheating servers

Cheat = Callable[[ChainState, RangeProof], "RangeProof | None"]


def _drop_middle(state: ChainState, rp: RangeProof) -> RangeProof | None:
    if len(rp.entries) < 3:
        return None
    return dataclasses.replace(rp, entries=rp.entries[:1] + rp.entries[2:])


def _drop_last_keep_after(state: ChainState, rp: RangeProof) -> RangeProof | None:
    if not rp.entries:
        return None
    return dataclasses.replace(rp, entries=rp.entries[:-1])


def _drop_last_no_after(state: ChainState, rp: RangeProof) -> RangeProof | None:
    if not rp.entries:
        return None
    return dataclasses.replace(rp, entries=rp.entries[:-1], after=None)


def _neighbour_from_inside_before(state: ChainState, rp: RangeProof) -> RangeProof | None:
    if not rp.entries:
        return None
    return dataclasses.replace(rp, entries=rp.entries[1:], before=rp.entries[0])


def _neighbour_from_inside_empty(state: ChainState, rp: RangeProof) -> RangeProof | None:
    """Claim the range empty, with its first entry posing as the neighbour after."""
    if not rp.entries:
        return None
    return dataclasses.replace(rp, entries=(), after=rp.entries[0])


def _swap_value(state: ChainState, rp: RangeProof) -> RangeProof | None:
    if not rp.entries:
        return None
    e = rp.entries[-1]
    return dataclasses.replace(rp, entries=rp.entries[:-1] + (dataclasses.replace(e, value=e.value + b"!"),))


def _older_root(state: ChainState, rp: RangeProof) -> RangeProof | None:
    """The honest answer of an older state (one entry fewer) shown against the new root."""
    keys = sorted(state._values)
    older = state_of({k: v for k, v in state._values.items() if k != keys[len(keys) // 2]})
    return older.prove_range(rp.prefix, rp.start)


def _truncate_silently(state: ChainState, rp: RangeProof) -> RangeProof | None:
    """Keep the first entry only, with the honest neighbour after the whole range (not after the page)."""
    if len(rp.entries) < 2:
        return None
    return dataclasses.replace(rp, entries=rp.entries[:1])


def _truncate_silently_no_after(state: ChainState, rp: RangeProof) -> RangeProof | None:
    if len(rp.entries) < 2:
        return None
    return dataclasses.replace(rp, entries=rp.entries[:1], after=None)


def _entry_below_start(state: ChainState, rp: RangeProof) -> RangeProof | None:
    if rp.before is None:
        return None
    earlier = state.prove_entry(rp.before.index - 1) if rp.before.index > 0 else None
    return dataclasses.replace(rp, entries=(rp.before, *rp.entries), before=earlier)


def _missing_before(state: ChainState, rp: RangeProof) -> RangeProof | None:
    if rp.before is None:
        return None
    return dataclasses.replace(rp, before=None)


def _wrong_before(state: ChainState, rp: RangeProof) -> RangeProof | None:
    if rp.before is None or rp.before.index == 0:
        return None
    return dataclasses.replace(rp, before=state.prove_entry(rp.before.index - 1))


def _foreign_leaf_count(state: ChainState, rp: RangeProof) -> RangeProof | None:
    """A neighbour proven in a bigger tree (another leaf count) beside entries of the real one."""
    if rp.after is None:
        return None
    bigger = state_of({**state._values, b"\xff": b"end"})
    return dataclasses.replace(rp, after=bigger.prove_entry(rp.after.index))


def _empty_with_honest_neighbours(state: ChainState, rp: RangeProof) -> RangeProof | None:
    if not rp.entries:
        return None
    return dataclasses.replace(rp, entries=())


def _empty_at_an_earlier_place(state: ChainState, rp: RangeProof) -> RangeProof | None:
    """Claim the range empty with two honest adjacent entries from below it as its neighbours."""
    if rp.before is None or rp.before.index == 0:
        return None
    return dataclasses.replace(rp, entries=(), before=state.prove_entry(rp.before.index - 1), after=rp.before)


CHEATS: dict[str, Cheat] = {
    "drops one entry from the middle": _drop_middle,
    "drops the last entry, keeps the neighbour after": _drop_last_keep_after,
    "drops the last entry, claims the tree ends": _drop_last_no_after,
    "returns the first entry as the neighbour before": _neighbour_from_inside_before,
    "claims the range empty, first entry as the neighbour after": _neighbour_from_inside_empty,
    "swaps a value": _swap_value,
    "serves a proof of an older state root": _older_root,
    "truncates without saying so": _truncate_silently,
    "truncates and claims the tree ends": _truncate_silently_no_after,
    "adds an entry below the range": _entry_below_start,
    "leaves out the neighbour before": _missing_before,
    "gives a neighbour before that is not adjacent": _wrong_before,
    "mixes proofs of two leaf counts": _foreign_leaf_count,
    "answers nothing, with honest neighbours": _empty_with_honest_neighbours,
    "proves the range empty at an earlier place": _empty_at_an_earlier_place,
}


@pytest.mark.parametrize("name", sorted(CHEATS))
@settings(max_examples=40, suppress_health_check=[HealthCheck.filter_too_much])
@given(q=busy_queries())
def test_every_cheat_is_refused(name: str, q: tuple[dict[bytes, bytes], bytes, bytes]) -> None:
    entries, prefix, start = q
    state = state_of(entries)
    honest = state.prove_range(prefix, start)
    cheated = CHEATS[name](state, honest)
    assume(cheated is not None and cheated != honest)
    assert cheated is not None
    with pytest.raises(InvalidProof):
        verify_range(state.state_root, cheated)


def test_cheats_on_a_fixed_state_are_each_refused() -> None:
    """Deterministic twin of the property: a state where every cheat applies."""
    entries = {b"a%d" % i: b"acct" for i in range(3)} | {b"t%d" % i: b"task%d" % i for i in range(5)}
    entries |= {b"z": b"last"}
    state = state_of(entries)
    honest = state.prove_range(b"t", b"t1")
    assert list(verify_range(state.state_root, honest).entries) == [b"t1", b"t2", b"t3", b"t4"]
    for name, cheat in CHEATS.items():
        cheated = cheat(state, honest)
        assert cheated is not None and cheated != honest, name
        with pytest.raises(InvalidProof):
            verify_range(state.state_root, cheated)


def test_dropping_the_last_entry_with_the_next_as_neighbour_is_a_marked_short_page() -> None:
    """A server may end a page early (its byte budget), but the page then says so and where to go on."""
    state = state_of({b"t1": b"1", b"t2": b"2", b"t3": b"3", b"z": b""})
    rp = state.prove_range(b"t")
    short = dataclasses.replace(rp, entries=rp.entries[:-1], after=rp.entries[-1])
    page = verify_range(state.state_root, short)
    assert page.truncated and page.next_start == b"t3" and list(page.entries) == [b"t1", b"t2"]


# --------------------------------------------------------------------------- records and bounds


@given(queries())
@settings(max_examples=50)
def test_records_round_trip(q: tuple[dict[bytes, bytes], bytes, bytes]) -> None:
    entries, prefix, start = q
    rp = state_of(entries).prove_range(prefix, start)
    assert RangeProof.decode(rp.encode()) == rp
    for e in rp.entries:
        assert EntryProof.decode(e.encode()) == e


def test_bounds_hold_the_largest_real_values() -> None:
    big = "\U0010ffff"
    params = tuple((big * 32, big * 64) for _ in range(32))
    spec = TaskSpec(
        model=big * 64,
        model_version=U64,
        hyperparams=params,
        dataset_root=bytes(32),
        validation_shard=bytes(32),
        initial_checkpoint=bytes(32),
        optimizer=big * 64,
        optimizer_params=params,
        batch_size=65536,
        local_steps=1_000_000,
        checkpoint_interval=1_000_000,
        rounds=1_000_000,
        title=big * 80,
        description=big * 500,
    )
    task = TaskState(spec, bytes(20), U64, U64, U64, bytes(32), bytes(32), U64, 2, U64, U64, U64)
    slashed = SlashedOffences(tuple(Offence(bytes(20), U64, U64) for _ in range(MAX_SLASHED_PER_EPOCH)))
    committee = Committee(epoch=U64, members=tuple(bytes([i]) * 32 for i in range(MAX_COMMITTEE)))
    state = state_of({b"s": slashed.encode(), b"t" + bytes(32): task.encode(), b"c": committee.encode()})
    rp = state.prove_range(b"")
    assert RangeProof.decode(rp.encode()) == rp
    assert max(len(v.encode()) for v in (task, slashed, committee)) <= MAX_VALUE_LEN
    with pytest.raises(EncodingError):
        EntryProof(key=b"s", value=bytes(MAX_VALUE_LEN + 1), proof=rp.entries[0].proof)
    with pytest.raises(EncodingError):
        dataclasses.replace(rp, entries=rp.entries[:1] * (MAX_RANGE_ENTRIES + 1))
    plain = rp.to_plain()
    plain[3] = plain[3][:1] * (MAX_RANGE_ENTRIES + 1)
    with pytest.raises(EncodingError):
        RangeProof.decode(encode(plain))


def test_limits_and_byte_budget_of_a_page() -> None:
    state = state_of({b"t%03d" % i: bytes(100) for i in range(300)})
    assert len(state.prove_range(b"t").entries) == MAX_RANGE_ENTRIES
    assert len(state.prove_range(b"t", limit=7).entries) == 7
    small = state.prove_range(b"t", max_bytes=1000)
    assert 1 <= len(small.entries) < 10 and verify_range(state.state_root, small).truncated
    assert len(state.prove_range(b"t", max_bytes=0).entries) == 1  # always forward
    for budget in (500, 1_000, 5_000, 20_000):
        rp = state.prove_range(b"t", max_bytes=budget)
        if len(rp.entries) > 1:  # a lone entry may pass the budget: a page always goes forward
            assert len(rp.encode()) <= budget + 200  # + the range's own fields: prefix, start, array heads
        assert all(len(e.encode()) <= state._entry_bytes(e.index) for e in (*rp.entries, rp.before, rp.after) if e)
    with pytest.raises(ValueError):
        state.prove_range(b"t", limit=0)
    with pytest.raises(ValueError):
        state.prove_range(b"t", limit=MAX_RANGE_ENTRIES + 1)


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=40, unique=True), st.data())
def test_merkle_proofs_match_single_proofs(leaves: list[bytes], data: st.DataObject) -> None:
    indices = data.draw(st.lists(st.integers(0, len(leaves) - 1), max_size=10))
    assert merkle_proofs(leaves, indices) == [merkle_proof(leaves, i) for i in indices]
    assert merkle_root(leaves)  # the root is unchanged by the refactor (checked by test_merkle too)
