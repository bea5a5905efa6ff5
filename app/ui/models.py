"""Qt table models (history, peers, tasks, logs) and the pure earnings arithmetic behind the charts.

Views only ever see these models (bitcoin-qt's split); the models are filled by DaemonModel from RPC
results, never by the pages themselves.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from app.ui import api

R = TypeVar("R")
Index = QModelIndex | QPersistentModelIndex
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


@dataclass(frozen=True)
class Column(Generic[R]):
    title: str
    text: Callable[[R], str]
    right: bool = False
    tooltip: Callable[[R], str] | None = None


class RecordModel(QAbstractTableModel, Generic[R]):
    """A read-only table of records with declared columns."""

    def __init__(self, columns: Sequence[Column[R]], parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.records: list[R] = []

    def set_records(self, records: Iterable[R]) -> None:
        self.beginResetModel()
        self.records = list(records)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        record, column = self.records[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(record)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.right:
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(record)
        if role == Qt.ItemDataRole.UserRole:
            return record
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].title
        return None


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else ""


KIND_TEXT = {"reward": "Reward", "sent": "Sent", "received": "Received", "self": "To yourself"}


class HistoryModel(RecordModel[api.HistoryItem]):
    """Transfers and rewards, newest first."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(
            [
                Column("Date", lambda h: when(h.time)),
                Column("Type", lambda h: KIND_TEXT.get(h.kind, h.kind)),
                Column("Amount", lambda h: api.format_pot(h.amount, signed=True), right=True),
                Column("Fee", lambda h: api.format_pot(h.fee) if h.fee else "", right=True),
                Column(
                    "Counterparty / task",
                    lambda h: h.counterparty or h.reference,
                    tooltip=lambda h: f"{h.counterparty or h.reference}\nblock {h.height}",
                ),
                Column("Memo", lambda h: h.memo),
            ],
            parent,
        )

    def set_history(self, items: Iterable[api.HistoryItem]) -> None:
        self.set_records(sorted(items, key=lambda h: (h.time, h.height), reverse=True))

    def rewards(self) -> list[api.HistoryItem]:
        return [h for h in self.records if h.kind == "reward"]


class PeersModel(RecordModel[api.Peer]):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(
            [
                Column(
                    "Peer", lambda p: p.peer_id[:24] + ("…" if len(p.peer_id) > 24 else ""), tooltip=lambda p: p.peer_id
                ),
                Column("State", lambda p: "banned" if p.banned else ("connected" if p.connected else "known")),
                Column(
                    "Score",
                    lambda p: f"{p.score:.2f}",
                    right=True,
                    tooltip=lambda _p: "How well this peer has behaved; misbehaving peers are banned",
                ),
            ],
            parent,
        )


def plain_tooltip(*parts: str) -> str:
    """Text a requester wrote, as a tooltip that shows it literally: Qt guesses rich text in tooltips,
    so it is escaped inside an explicit rich-text wrapper (a '<b>' in a description stays '<b>')."""
    return "<qt>" + "<br>".join(html.escape(p).replace("\n", "<br>") for p in parts if p) + "</qt>"


TASK_STATUS = {"open": "training", "finished": "finished", "expired": "expired"}


class TasksModel(RecordModel[api.Task]):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(
            [
                Column(
                    "Task",
                    lambda t: t.title or t.task_id[:16] + "…",
                    tooltip=lambda t: plain_tooltip(t.task_id, t.description),
                ),
                Column("Model", lambda t: t.model),
                Column("Status", lambda t: TASK_STATUS.get(t.status, t.status)),
                Column("Round", lambda t: f"{min(t.round, t.rounds)} of {t.rounds}", right=True),
                Column(
                    "Validation loss",
                    lambda t: "" if t.validation_loss is None else f"{t.validation_loss:.4f}",
                    right=True,
                ),
                Column("Escrow left", lambda t: api.format_pot(t.escrow), right=True),
                Column(
                    "Progress",
                    lambda t: t.patience_text,
                    tooltip=lambda _t: (
                        "The requester's patience rule: the task finishes, and the rest of "
                        "its escrow goes back, after that many rounds without a better validation loss"
                    ),
                ),
            ],
            parent,
        )


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class LogModel(RecordModel[api.LogLine]):
    """The daemon's log lines, oldest first, capped to the newest `limit`."""

    def __init__(self, limit: int = 5000, parent: Any = None) -> None:
        super().__init__(
            [
                Column("Time", lambda line: dt.datetime.fromtimestamp(line.time).strftime("%H:%M:%S")),
                Column("Level", lambda line: line.level),
                Column("Source", lambda line: line.logger),
                Column("Message", lambda line: line.message, tooltip=lambda line: line.message),
            ],
            parent,
        )
        self.limit = limit

    def append(self, line: api.LogLine) -> None:
        if self.records and line.seq and line.seq <= self.records[-1].seq:
            return  # already have it (the initial fetch and the subscription overlap)
        if len(self.records) >= self.limit:
            drop = len(self.records) - self.limit + 1
            self.beginRemoveRows(QModelIndex(), 0, drop - 1)
            del self.records[:drop]
            self.endRemoveRows()
        self.beginInsertRows(QModelIndex(), len(self.records), len(self.records))
        self.records.append(line)
        self.endInsertRows()


class LogFilter(QSortFilterProxyModel):
    """Minimum level plus a case-insensitive text match over source and message."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.min_level = "DEBUG"
        self.text = ""

    def set_filter(self, min_level: str, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.10+
            self.beginFilterChange()
            self.min_level, self.text = min_level, text.strip().lower()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.min_level, self.text = min_level, text.strip().lower()
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, LogModel)
        line = model.records[row]
        rank = LEVELS.index(line.level) if line.level in LEVELS else 1
        if rank < LEVELS.index(self.min_level):
            return False
        return not self.text or self.text in line.message.lower() or self.text in line.logger.lower()


# -- earnings: pure functions over reward records ------------------------------------------------
PERIODS = {"day": (24, "hours"), "week": (7, "days"), "month": (30, "days")}


def bucket_rewards(rewards: Iterable[api.HistoryItem], period: str, now: float) -> list[tuple[str, int]]:
    """(label, grains) per hour over the last day, or per day over the last week or month, oldest first."""
    count, unit = PERIODS[period]
    end = dt.datetime.fromtimestamp(now)
    if unit == "hours":
        start = end.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=count - 1)
        step = dt.timedelta(hours=1)
        labels = [(start + i * step).strftime("%H:00") for i in range(count)]
    else:
        start = end.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=count - 1)
        step = dt.timedelta(days=1)
        labels = [(start + i * step).strftime("%d %b") for i in range(count)]
    totals = [0] * count
    for r in rewards:
        t = dt.datetime.fromtimestamp(r.time)
        i = int((t - start) // step)
        if 0 <= i < count and t <= end:
            totals[i] += r.amount
    return list(zip(labels, totals))


def per_task(rewards: Iterable[api.HistoryItem]) -> list[tuple[str, int, int]]:
    """(task id, rewards, grains) per task, largest total first."""
    count: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for r in rewards:
        count[r.reference] += 1
        total[r.reference] += r.amount
    return sorted(((t, count[t], total[t]) for t in total), key=lambda row: (-row[2], row[0]))


def rewards_csv(rewards: Iterable[api.HistoryItem]) -> str:
    """One row per reward: time (ISO, local), block height, task, amount in POT (exact decimal)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "height", "task", "amount_pot"])
    for r in sorted(rewards, key=lambda r: r.time):
        writer.writerow(
            [
                dt.datetime.fromtimestamp(r.time).isoformat(timespec="seconds"),
                r.height,
                r.reference,
                api.format_pot(r.amount, unit=False).replace(",", ""),
            ]
        )
    return out.getvalue()
