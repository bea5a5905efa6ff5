"""Small layout helpers shared by the pages."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget


def title(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("pageTitle")
    return label


def hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


def card(heading: str, *widgets: QWidget) -> QFrame:
    """A bordered box with a small heading over its widgets."""
    frame = QFrame()
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    head = QLabel(heading)
    head.setObjectName("hint")
    layout.addWidget(head)
    for w in widgets:
        layout.addWidget(w)
    return frame


def value_label(text: str = "—", name: str = "bigNumber") -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    return label
