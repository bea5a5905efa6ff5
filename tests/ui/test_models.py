"""Earnings arithmetic, CSV, history order, log capping and filtering, amount parsing."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from PySide6.QtCore import Qt

from app.ui import api
from app.ui.models import HistoryModel, LogFilter, LogModel, bucket_rewards, per_task, rewards_csv

NOW = dt.datetime(2025, 3, 10, 15, 30).timestamp()
POT = api.GRAINS_PER_POT


def reward(hours_ago: float, amount: int = POT, task: str = "t1") -> api.HistoryItem:
    return api.HistoryItem(height=1, time=NOW - hours_ago * 3600, kind="reward", amount=amount, reference=task)


@pytest.mark.parametrize(
    "period, hours_ago, index",
    [
        ("day", 0, 23),
        ("day", 1, 22),
        ("day", 23, 0),
        ("day", 24, None),
        ("week", 0, 6),
        ("week", 15.4, 6),
        ("week", 15.6, 5),
        ("week", 24 * 6 + 15, 0),
        ("week", 24 * 7 + 16, None),
        ("month", 24 * 29, 0),
        ("month", 24 * 30 + 16, None),
    ],
)
def test_bucket_rewards_places_each_reward(period: str, hours_ago: float, index: int | None) -> None:
    buckets = bucket_rewards([reward(hours_ago)], period, NOW)
    totals = [g for _, g in buckets]
    assert len(totals) == {"day": 24, "week": 7, "month": 30}[period]
    if index is None:
        assert sum(totals) == 0
    else:
        assert totals[index] == POT and sum(totals) == POT


def test_future_rewards_are_not_counted() -> None:
    assert sum(g for _, g in bucket_rewards([reward(-2)], "day", NOW)) == 0


def test_per_task_and_csv() -> None:
    items = [reward(1, 2 * POT, "b"), reward(2, POT // 2, "a"), reward(3, POT, "b")]
    assert per_task(items) == [("b", 2, 3 * POT), ("a", 1, POT // 2)]
    rows = list(csv.reader(io.StringIO(rewards_csv(items))))
    assert rows[0] == ["time", "height", "task", "amount_pot"]
    assert [r[3] for r in rows[1:]] == ["1", "0.5", "2"], "oldest first, exact decimals"


def test_history_newest_first_and_signed_amounts(qapp) -> None:  # type: ignore[no-untyped-def]
    model = HistoryModel()
    model.set_history(
        [reward(5), api.HistoryItem(time=NOW, kind="sent", amount=-(3 * POT + 1000), fee=1000, counterparty="potd1xyz")]
    )
    assert model.records[0].kind == "sent"
    assert model.data(model.index(0, 2)) == "-3.000001 POT"
    assert model.data(model.index(1, 2)) == "+1 POT"
    assert [r.kind for r in model.rewards()] == ["reward"]


def test_log_model_caps_dedupes_and_filters(qapp) -> None:  # type: ignore[no-untyped-def]
    logs = LogModel(limit=3)
    for seq, level, msg in [
        (1, "INFO", "a"),
        (2, "DEBUG", "b"),
        (2, "DEBUG", "b"),
        (3, "WARNING", "peer lost"),
        (4, "ERROR", "worker crashed"),
    ]:
        logs.append(api.LogLine(seq=seq, time=NOW, level=level, logger="app.x", message=msg))
    assert [line.seq for line in logs.records] == [2, 3, 4]
    proxy = LogFilter()
    proxy.setSourceModel(logs)
    proxy.set_filter("WARNING", "")
    assert proxy.rowCount() == 2
    proxy.set_filter("DEBUG", "CRASH")
    assert proxy.rowCount() == 1


@pytest.mark.parametrize(
    "text, grains",
    [
        ("1.5", 1_500_000_000),
        ("1.5 POT", 1_500_000_000),
        (".25", 250_000_000),
        ("0.000000001", 1),
        ("1,000", 1000 * POT),
    ],
)
def test_parse_pot(text: str, grains: int) -> None:
    assert api.parse_pot(text) == grains
    assert api.parse_pot(api.format_pot(grains)) == grains


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "-1", "0.0000000001", "1e3"])
def test_parse_pot_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        api.parse_pot(text)


def test_parse_ignores_unknown_fields_and_keeps_defaults() -> None:
    info = api.parse(api.MiningInfo, {"state": "mining", "future_field": 1})
    assert info.state == "mining" and info.loss_curve == [] and info.temperature_c is None
    assert api.parse(api.Status, None) == api.Status()


def test_daemon_results_become_records() -> None:
    """The shapes the real daemon answers with (docs/RPC.md), read the way the pages need them."""
    history = api.parse_history(
        {
            "entries": [
                {
                    "height": 4,
                    "time": 1_700_000_004,
                    "kind": "reward",
                    "delta": 12 * 10**9,
                    "amount": "12 POT",
                    "fee": 0,
                    "counterparty": None,
                    "reference": "ab" * 32,
                    "memo": "miner",
                },
                {
                    "height": 9,
                    "time": None,
                    "kind": "sent",
                    "delta": -(10**9 + 1000),
                    "amount": "1 POT",
                    "fee": 1000,
                    "counterparty": "potd1xyz",
                    "reference": "cd" * 32,
                    "memo": "",
                },
            ]
        }
    )
    assert [(h.kind, h.amount, h.time, h.counterparty) for h in history] == [
        ("reward", 12 * 10**9, 1_700_000_004, ""),
        ("sent", -(10**9 + 1000), 0.0, "potd1xyz"),
    ]
    balance = api.parse_balance({"accounts": {"spending": {"balance": 3}, "reward": {"balance": 5}}, "total": 8})
    assert (balance.spending, balance.reward, balance.total) == (3, 5, 8)
    status = api.parse_status(
        {
            "daemon": {"version": "0.1.0", "data_dir": "/d"},
            "node": None,
            "wallet": {"exists": True, "locked": False, "addresses": {"spending": "potd1s"}},
        }
    )
    assert status.node_mode == "" and status.wallet_info == api.WalletInfo(True, False, "potd1s")
    now = 1_700_000_100.0
    assert api.parse_status({"node": {"mode": "full", "head_time": now - 5}}).synced(now)
    assert not api.parse_status({"node": {"mode": "full", "head_time": now - 600}}).synced(now)
    mining = api.parse_mining(
        {"state": "mining", "samples_per_s": 812.5, "device_load": None, "loss_curve": [[10, 2.1]]}
    )
    assert (mining.throughput, mining.device_load, mining.loss_curve) == (812.5, None, [[10, 2.1]])
    assert api.send_params("potd1x", 1_500_000_000, 1000, "hi", "pw", "reward") == {
        "to": "potd1x",
        "amount": "1.5",
        "fee": "0.000001",
        "memo": "hi",
        "password": "pw",
        "account": "reward",
    }
    assert api.export_secret("raw_key", {"private_key": "ff", "role": "spending"}) == "ff"


class _FakeClient:
    """The RpcClient's signals and `call`, recording the calls (no daemon)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QObject, Signal

        class Signals(QObject):
            stateChanged = Signal(str, str)
            ready = Signal(object)
            eventsLost = Signal()
            event = Signal(str, object)

        self.signals = Signals()
        self.stateChanged, self.ready = self.signals.stateChanged, self.signals.ready
        self.eventsLost, self.event = self.signals.eventsLost, self.signals.event
        self.calls: list[str] = []

    def is_ready(self) -> bool:
        return True

    def call(self, method: str, params=None):  # type: ignore[no-untyped-def]
        self.calls.append(method)

        class Pending:
            def then(self, *_a):  # type: ignore[no-untyped-def]
                return self

        return Pending()


def test_progress_events_update_mining_without_polling(qapp) -> None:  # type: ignore[no-untyped-def]
    from app.ui import daemon_model as dm

    client = _FakeClient()
    model = dm.DaemonModel(client)  # type: ignore[arg-type]
    seen: list[api.MiningInfo] = []
    model.miningChanged.connect(seen.append)
    model._on_mining(
        {"state": "mining", "task_id": "ab" * 32, "round": 3, "step": 4, "total_steps": 64, "loss_curve": [[4, 2.3]]}
    )
    assert model._mining_poll.isActive() and model._mining_poll.interval() >= 5000  # a slow fallback only
    client.calls.clear()
    for step, loss in ((8, 2.2), (12, 2.0), (10, 9.9)):  # the late, older one is ignored
        client.event.emit(
            "mining_progress",
            {
                "task_id": "ab" * 32,
                "round": 3,
                "step": step,
                "total_steps": 64,
                "loss": loss,
                "samples_per_s": 500.0,
                "device_load": 40.0,
                "temperature_c": None,
            },
        )
    info = model.mining
    assert (info.step, info.loss, info.throughput, info.device_load) == (12, 2.0, 500.0, 40.0)
    assert info.loss_curve == [[4, 2.3], [8, 2.2], [12, 2.0]] and len(seen) == 3
    model._poll_mining()  # the fallback poll: skipped while progress events are fresh
    assert client.calls == []
    client.event.emit(
        "mining_progress",
        {"task_id": "ab" * 32, "round": 4, "step": 2, "total_steps": 64, "loss": 2.5, "samples_per_s": 510.0},
    )
    assert (model.mining.round, model.mining.loss_curve) == (4, [[2, 2.5]])  # a new round: a new curve
    model._progress_at = None  # events missed: the poll asks the daemon
    model._poll_mining()
    assert client.calls == [api.MINING_STATE]


def test_a_task_shows_its_title_and_its_description_only_as_literal_text() -> None:
    from app.cli.client import _task_text
    from app.ui.models import TasksModel, plain_tooltip

    task = api.Task(
        task_id="ab" * 32,
        status="open",
        model="mlp",
        rounds=5,
        title="Digits <b>bold</b>",
        description="line one\n<img src=x>",
    )
    model = TasksModel()
    model.set_records([task])
    index = model.index(0, 0)
    assert model.data(index) == "Digits <b>bold</b>"
    assert (
        plain_tooltip(task.task_id, task.description) == "<qt>" + "ab" * 32 + "<br>line one<br>&lt;img src=x&gt;</qt>"
    )
    text = _task_text(
        {
            "task_id": task.task_id,
            "title": task.title,
            "description": task.description,
            "status": "open",
            "round": 0,
            "rounds": 5,
            "model": "mlp",
            "validation_loss": None,
            "escrow_text": "1 POT",
        }
    )
    assert text.splitlines()[:3] == [f"task {task.task_id}  Digits <b>bold</b>", "  | line one", "  | <img src=x>"]


def test_a_task_says_where_its_patience_rule_stands() -> None:
    from app.ui.models import TasksModel

    def progress(**fields: object) -> str:
        model = TasksModel()
        model.set_records([api.Task(task_id="cd" * 32, model="mlp", rounds=50, **fields)])  # type: ignore[arg-type]
        column = next(
            i for i in range(model.columnCount()) if model.headerData(i, Qt.Orientation.Horizontal) == "Progress"
        )
        return str(model.data(model.index(0, column)))

    assert progress(status="open", round=3) == "runs all its rounds"  # no patience rule
    assert progress(status="open", round=3, patience_rounds=20) == "improving"
    assert progress(status="open", round=9, patience_rounds=20, stale_rounds=4) == "4 of 20 rounds without progress"
    assert progress(status="finished", round=31, patience_rounds=20, stale_rounds=20) == (
        "stopped early: no progress for 20 rounds"
    )
    assert progress(status="finished", round=50, patience_rounds=20) == ""  # ran all its rounds
