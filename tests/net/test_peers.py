"""Scores, bans with expiry, and dial backoff, on a manual clock."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from app.net.peers import PENALTIES, Backoff, Offence, PeerTable, ScorePolicy


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_repeated_invalid_gossip_bans_once_at_threshold() -> None:
    clock = Clock()
    table = PeerTable(ScorePolicy(ban_threshold=-50, ban_seconds=60), clock)
    results = [table.penalise("p", Offence.INVALID_GOSSIP) for _ in range(6)]
    assert results == [False, False, False, False, True, False]  # -10 each: banned at the 5th
    assert table.is_banned("p")
    assert table.snapshot()[0].offences == {"invalid-gossip": 6}


def test_ban_expires_and_score_resets() -> None:
    clock = Clock()
    table = PeerTable(ScorePolicy(ban_seconds=60), clock)
    for _ in range(2):
        table.penalise("p", Offence.WRONG_BLOB)
    assert table.is_banned("p")
    clock.t += 59
    assert table.is_banned("p")
    assert table.snapshot()[0].banned_for_s == pytest.approx(1.0)
    clock.t += 1
    assert not table.is_banned("p")
    assert table.score("p") == 0.0


def test_penalties_decay_with_half_life() -> None:
    clock = Clock()
    table = PeerTable(ScorePolicy(half_life_s=100), clock)
    table.penalise("p", Offence.BAD_FRAME)
    clock.t += 100
    assert table.score("p") == pytest.approx(-PENALTIES[Offence.BAD_FRAME] / 2)


def test_reward_is_capped_and_not_given_while_banned() -> None:
    clock = Clock()
    table = PeerTable(ScorePolicy(score_max=2, reward=1, half_life_s=1e9), clock)
    for _ in range(10):
        table.reward("p")
    assert table.score("p") == 2
    table.ban("p")
    table.reward("p")
    assert table.score("p") == 2 and table.is_banned("p")


def test_manual_ban_and_snapshot_order() -> None:
    table = PeerTable(clock=Clock())
    table.reward("good")
    table.penalise("bad", Offence.TIMEOUT)
    table.ban("evil", seconds=5)
    views = table.snapshot()
    assert [v.peer_id for v in views][0] == "good"
    assert {v.peer_id: v.banned for v in views} == {"good": False, "bad": False, "evil": True}


@pytest.mark.parametrize(
    "kwargs", [dict(ban_threshold=5), dict(ban_threshold=-200), dict(ban_seconds=0), dict(half_life_s=-1)]
)
def test_inconsistent_policy_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ScorePolicy(**kwargs)


@given(st.lists(st.sampled_from(list(Offence)), max_size=60))
def test_score_stays_within_bounds(offences: list[Offence]) -> None:
    table = PeerTable(clock=Clock())
    for o in offences:
        table.penalise("p", o)
        table.reward("p")
    policy = table.policy
    assert policy.score_min <= table.score("p") <= policy.score_max


def test_backoff_doubles_caps_and_resets() -> None:
    clock = Clock()
    b = Backoff(base_s=1, max_s=5, clock=clock)
    assert b.may_try("x")
    assert [b.failed("x") for _ in range(5)] == [1, 2, 4, 5, 5]
    assert not b.may_try("x") and b.delay("x") == 5
    clock.t += 5
    assert b.may_try("x")
    b.succeeded("x")
    assert b.failed("x") == 1
    for _ in range(200):  # no overflow after many failures
        b.failed("y")
    assert b.delay("y") == 5


def test_backoff_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Backoff(base_s=0)
    with pytest.raises(ValueError):
        Backoff(base_s=10, max_s=1)
