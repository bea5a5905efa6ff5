"""Small things of issue 16 item 9, on real widgets offscreen: chart ticks that differ, bar labels that do
not overlap, reward notifications at most every few minutes, and the round's time left."""

from __future__ import annotations

from app.ui.pages.dashboard import StepRate, time_left
from app.ui.widgets.charts import label_stride, nice_ticks, tick_labels


def test_tick_labels_differ_even_for_tiny_losses() -> None:
    ticks = nice_ticks(0.0002, 0.0008)
    assert len(set(tick_labels(ticks, ".3f"))) == len(ticks), "no more 0.000 at every tick"
    assert tick_labels([1.0, 2.0], ".3f") == ["1.000", "2.000"], "the format is kept when it is enough"


def test_bar_labels_are_spaced_by_their_width() -> None:
    assert label_stride([30.0] * 24, slot_width=40.0) == 1
    assert label_stride([30.0] * 24, slot_width=20.0) == 2  # 38 px needed per label, 20 per bar
    assert label_stride([], slot_width=10.0) == 1


def test_time_left_from_the_step_rate() -> None:
    rate = StepRate(window_s=30)
    for t in range(0, 11):
        rate.add("t", 0, 10 * t, now=100.0 + t)  # 10 steps a second
    assert rate.seconds_left(100, 1000) == 90.0
    assert time_left(90.0) == "about 2 min left" and time_left(30) == "less than a minute left"
    assert time_left(None) == "" and time_left(7200) == "about 2.0 h left"
    rate.add("t", 1, 0, now=111.0)  # a new round starts over
    assert rate.seconds_left(0, 1000) is None


def test_reward_notifications_are_throttled_and_summed(qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QObject

    from app.ui import tray as tray_module
    from app.ui.daemon_model import DaemonModel
    from app.ui.rpc_client import RpcClient

    now = [1000.0]
    client = RpcClient(lambda: None)  # never connects: the tray needs only the model's signals
    model = DaemonModel(client)
    owner = QObject()  # kept alive for the test: it owns the tray and its timer
    tray = tray_module.Tray(model, owner, clock=lambda: now[0])
    tray.notify_reward(10**9, "task a", 40)
    assert len(tray.notifications) == 1 and "vesting until block 40" in tray.notifications[0][1]
    for i in range(5):  # a round every few seconds
        now[0] += 3
        tray.notify_reward(2 * 10**9, "task a", 41 + i)
    assert len(tray.notifications) == 1, "held, not one notification each"
    assert tray._flush.isActive()
    now[0] += tray_module.REWARD_NOTICE_EVERY_S
    tray._flush.timeout.emit()
    assert len(tray.notifications) == 2
    assert tray.notifications[1][1].startswith("5 rewards, 10 POT in all")


def test_seed_words_are_never_clipped(qtbot) -> None:  # type: ignore[no-untyped-def]
    from app.ui.widgets.secrets import SeedGrid

    phrase = " ".join(["priority"] * 24)
    grid = SeedGrid(phrase)
    qtbot.addWidget(grid)
    grid.resize(200, 200)  # far too narrow for four columns
    grid.show()
    qtbot.waitExposed(grid)
    labels = [grid._grid.itemAt(i).widget() for i in range(grid._grid.count())]
    assert len(labels) == 24
    assert all(label.width() >= label.fontMetrics().horizontalAdvance(label.text()) for label in labels)
