"""Two small charts drawn with QPainter: a line chart (validation loss) and a bar chart (rewards).

PySide6-Essentials has no QtCharts; these cover what the window needs without a new dependency. The
data is plain lists; the widgets only draw, and expose what they hold so tests can read it back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 12, 12, 28


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """About `count` round tick values covering lo..hi (1, 2, 5 times a power of ten)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = (lo // step) * step
    ticks, v = [], start
    while v <= hi + step * 1e-9:
        if v >= lo - step * 1e-9:
            ticks.append(round(v, 12))
        v += step
    return ticks


def tick_labels(ticks: Sequence[float], fmt: str) -> list[str]:
    """Tick texts in `fmt`, with more decimals when `fmt` would print two ticks alike (a loss of
    0.0002..0.0008 read "0.000" at every tick)."""
    labels = [format(t, fmt) for t in ticks]
    if len(set(labels)) == len(labels) or len(ticks) < 2:
        return labels
    step = min(abs(b - a) for a, b in zip(ticks, ticks[1:]) if b != a) if len(set(ticks)) > 1 else 1.0
    decimals = min(12, max(0, -math.floor(math.log10(step))) + 1)
    return [f"{t:.{decimals}f}" for t in ticks]


def label_stride(label_widths: Sequence[float], slot_width: float, gap: float = 8.0) -> int:
    """Label every n-th bar so that no two labels overlap (each is centred on its bar)."""
    widest = max(label_widths, default=0.0) + gap
    return max(1, math.ceil(widest / max(slot_width, 1e-6)))


class _ChartBase(QWidget):
    def __init__(self, empty_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.empty_text = empty_text
        self.setMinimumHeight(160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(480, 220)

    def _plot_rect(self) -> QRectF:
        return QRectF(
            MARGIN_LEFT,
            MARGIN_TOP,
            max(1, self.width() - MARGIN_LEFT - MARGIN_RIGHT),
            max(1, self.height() - MARGIN_TOP - MARGIN_BOTTOM),
        )

    def _accent(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Highlight)

    def _draw_empty(self, painter: QPainter) -> None:
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)

    def _draw_y_axis(self, painter: QPainter, rect: QRectF, lo: float, hi: float, fmt: str) -> None:
        grid = QColor(self.palette().color(QPalette.ColorRole.Mid))
        grid.setAlpha(90)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        ticks = nice_ticks(lo, hi)
        for tick, label in zip(ticks, tick_labels(ticks, fmt)):
            y = rect.bottom() - (tick - lo) / (hi - lo) * rect.height()
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            painter.setPen(text)
            painter.drawText(
                QRectF(0, y - 8, MARGIN_LEFT - 6, 16),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                label,
            )


class LineChart(_ChartBase):
    """y over x as one line, e.g. validation loss over training steps."""

    def __init__(
        self,
        empty_text: str = "No data yet",
        y_format: str = ".2f",
        x_name: str = "step",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(empty_text, parent)
        self.y_format = y_format
        self.x_name = x_name
        self.points: list[tuple[float, float]] = []

    def set_points(self, points: Sequence[Sequence[float]]) -> None:
        self.points = [(float(x), float(y)) for x, y in points]
        self.update()

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if len(self.points) < 2:
            self._draw_empty(painter)
            return
        rect = self._plot_rect()
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        pad = (y1 - y0) * 0.1 or abs(y1) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad
        x1 = x1 if x1 > x0 else x0 + 1
        self._draw_y_axis(painter, rect, y0, y1, self.y_format)
        path = QPainterPath()
        for i, (x, y) in enumerate(self.points):
            pt = QPointF(
                rect.left() + (x - x0) / (x1 - x0) * rect.width(), rect.bottom() - (y - y0) / (y1 - y0) * rect.height()
            )
            path.moveTo(pt) if i == 0 else path.lineTo(pt)
        painter.setPen(QPen(self._accent(), 2))
        painter.drawPath(path)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        painter.drawText(
            QRectF(rect.left(), rect.bottom() + 4, rect.width(), 20),
            Qt.AlignmentFlag.AlignLeft,
            f"{self.x_name} {x0:g}",
        )
        painter.drawText(
            QRectF(rect.left(), rect.bottom() + 4, rect.width(), 20),
            Qt.AlignmentFlag.AlignRight,
            f"{self.x_name} {x1:g}",
        )


class BarChart(_ChartBase):
    """One bar per labelled bucket, e.g. POT earned per day."""

    def __init__(self, empty_text: str = "No data yet", y_format: str = "g", parent: QWidget | None = None) -> None:
        super().__init__(empty_text, parent)
        self.y_format = y_format
        self.bars: list[tuple[str, float]] = []

    def set_bars(self, bars: Sequence[tuple[str, float]]) -> None:
        self.bars = [(str(label), float(value)) for label, value in bars]
        self.setToolTip("\n".join(f"{label}: {value:{self.y_format}}" for label, value in self.bars if value))
        self.update()

    def total(self) -> float:
        return sum(v for _, v in self.bars)

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self.bars or self.total() <= 0:
            self._draw_empty(painter)
            return
        rect = self._plot_rect()
        top = max(v for _, v in self.bars) * 1.1
        self._draw_y_axis(painter, rect, 0.0, top, self.y_format)
        slot = rect.width() / len(self.bars)
        width = max(2.0, slot * 0.7)
        metrics = painter.fontMetrics()
        label_every = label_stride([metrics.horizontalAdvance(label) for label, _ in self.bars], slot)
        text_color = self.palette().color(QPalette.ColorRole.WindowText)
        for i, (label, value) in enumerate(self.bars):
            h = value / top * rect.height()
            x = rect.left() + i * slot + (slot - width) / 2
            painter.fillRect(QRectF(x, rect.bottom() - h, width, h), self._accent())
            if i % label_every == 0:
                painter.setPen(text_color)
                span = slot * label_every
                painter.drawText(
                    QRectF(rect.left() + (i + 0.5) * slot - span / 2, rect.bottom() + 4, span, 20),
                    Qt.AlignmentFlag.AlignHCenter,
                    label,
                )
