"""A QR code widget: the module grid comes from `qrcode` (no Pillow needed), QPainter draws it."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


def qr_matrix(text: str) -> list[list[bool]]:
    """The QR modules for `text`, with a quiet zone of 2 modules; medium error correction."""
    import qrcode  # imported on first use: it loads Pillow when present, which the window's start does not need

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(text)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


class QrWidget(QWidget):
    """Always black on white, whatever the theme: scanners need the contrast."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = ""
        self.matrix: list[list[bool]] = []
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(180, 180)

    def set_text(self, text: str) -> None:
        self.text = text
        self.matrix = qr_matrix(text) if text else []
        self.setToolTip(text)
        self.update()

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        side = min(self.width(), self.height())
        painter.fillRect(QRectF(0, 0, side, side), QColor("white"))
        if not self.matrix:
            painter.setPen(QColor("gray"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "no address")
            return
        n = len(self.matrix)
        cell = side / n
        black = QColor("black")
        for y, row in enumerate(self.matrix):
            for x, on in enumerate(row):
                if on:
                    painter.fillRect(QRectF(x * cell, y * cell, cell + 0.5, cell + 0.5), black)
