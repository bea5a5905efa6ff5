"""The in-process event bus: filtering, order, isolation of failing listeners, type checks."""

from __future__ import annotations

import logging
import threading

import pytest

from app.daemon.events import EVENT_TYPES, DaemonWarning, Event, EventBus, MiningState, NewBlock, Reward
from app.rpc.protocol import EVENT_KINDS


def test_listeners_get_only_their_kinds_in_order() -> None:
    bus = EventBus()
    blocks: list[Event] = []
    everything: list[Event] = []
    bus.subscribe(blocks.append, kinds=["new_block"])
    bus.subscribe(everything.append)
    events = [NewBlock(1, "a", 0, 0), MiningState("mining"), NewBlock(2, "b", 0, 3), Reward("pot1", 7, 2, "t")]
    for e in events:
        bus.publish(e)
    assert blocks == [events[0], events[2]]
    assert everything == events


def test_failing_listener_is_logged_and_others_still_get_the_event(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    bus.subscribe(broken)
    bus.subscribe(got.append)
    with caplog.at_level(logging.ERROR, logger="app.daemon.events"):
        bus.publish(DaemonWarning("disk almost full"))
    assert got == [DaemonWarning("disk almost full")]
    assert any("listener" in r.getMessage() and r.exc_info for r in caplog.records)


def test_closed_subscription_gets_nothing() -> None:
    bus = EventBus()
    got: list[Event] = []
    sub = bus.subscribe(got.append)
    sub.close()
    sub.close()
    bus.publish(MiningState("off"))
    assert got == [] and len(bus) == 0


def test_bad_kinds_and_non_events_are_refused() -> None:
    bus = EventBus()
    with pytest.raises(ValueError, match="blocks"):
        bus.subscribe(lambda e: None, kinds=["blocks"])
    with pytest.raises(TypeError):
        bus.publish({"kind": "new_block"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bus.publish(Event())


def test_concurrent_publishers_give_every_listener_the_same_order() -> None:
    bus = EventBus()
    a: list[Event] = []
    b: list[Event] = []
    bus.subscribe(a.append)
    bus.subscribe(b.append)

    def publish(base: int) -> None:
        for i in range(300):
            bus.publish(NewBlock(base + i, "x", 0, 0))

    threads = [threading.Thread(target=publish, args=(k * 1000,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(a) == 900 and a == b
    for k in range(3):  # each publisher's own events stay in its order
        mine = [e.height for e in a if isinstance(e, NewBlock) and k * 1000 <= e.height < k * 1000 + 1000]
        assert mine == sorted(mine)


def test_event_kinds_match_the_protocol_and_serialise() -> None:
    assert set(EVENT_TYPES) == EVENT_KINDS
    assert MiningState("paused", "on battery").to_json() == {"state": "paused", "reason": "on battery"}
