"""Light and dark themes on the Fusion style, following the OS unless the user picked one (Electrum #9690).

The palette carries every colour; resources/styles/app.qss only adds sizes and a few accents that read
palette roles, so one stylesheet serves both themes. Qt 6.5+ reports the OS colour scheme through
QStyleHints; `follow_system` re-applies the palette when the OS switches.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from app.ui.cli_args import THEMES  # noqa: F401 - one list of theme names, re-exported

STYLE_FILE = Path(__file__).resolve().parents[2] / "resources" / "styles" / "app.qss"


def system_is_dark(app: QGuiApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def resolve(choice: str, app: QGuiApplication) -> str:
    """ "light" or "dark" for a choice of system, light or dark."""
    if choice == "system":
        return "dark" if system_is_dark(app) else "light"
    return choice if choice in ("light", "dark") else "light"


def dark_palette() -> QPalette:
    pal = QPalette()
    roles = QPalette.ColorRole
    for role, color in (
        (roles.Window, "#1f2227"),
        (roles.WindowText, "#e6e6e6"),
        (roles.Base, "#16181c"),
        (roles.AlternateBase, "#23262b"),
        (roles.ToolTipBase, "#2b2f36"),
        (roles.ToolTipText, "#e6e6e6"),
        (roles.Text, "#e6e6e6"),
        (roles.Button, "#2a2e35"),
        (roles.ButtonText, "#e6e6e6"),
        (roles.BrightText, "#ff6b6b"),
        (roles.Highlight, "#3d8bfd"),
        (roles.HighlightedText, "#ffffff"),
        (roles.Link, "#6ea8fe"),
        (roles.PlaceholderText, "#8a9099"),
        (roles.Mid, "#3a3f47"),
        (roles.Light, "#3a3f47"),
        (roles.Dark, "#101215"),
        (roles.Shadow, "#000000"),
    ):
        pal.setColor(role, QColor(color))
    for role in (roles.Text, roles.ButtonText, roles.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7078"))
    return pal


def light_palette() -> QPalette:
    pal = QApplication.style().standardPalette()
    pal.setColor(QPalette.ColorRole.Highlight, QColor("#2f6fde"))
    return pal


def apply(app: QApplication, choice: str = "system") -> str:
    """Set Fusion, the palette for `choice` and the stylesheet; returns the theme applied."""
    app.setStyle("Fusion")
    applied = resolve(choice, app)
    app.setPalette(dark_palette() if applied == "dark" else light_palette())
    if hasattr(app.styleHints(), "setColorScheme"):  # Qt 6.8+: native dialogs and title bars follow too
        scheme = {"dark": Qt.ColorScheme.Dark, "light": Qt.ColorScheme.Light}.get(choice, Qt.ColorScheme.Unknown)
        app.styleHints().setColorScheme(scheme)  # Unknown: keep following the OS
    try:
        app.setStyleSheet(STYLE_FILE.read_text(encoding="utf-8"))
    except OSError:
        app.setStyleSheet("")  # a missing stylesheet costs looks, not function
    app.setProperty("potminer_theme", applied)
    return applied


def follow_system(app: QApplication, current_choice: Callable[[], str]) -> None:
    """Re-apply when the OS colour scheme changes, while the user's choice is "system"."""

    def changed(_scheme: Qt.ColorScheme) -> None:
        if current_choice() == "system":
            apply(app, "system")

    app.styleHints().colorSchemeChanged.connect(changed)
