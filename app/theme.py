"""Follow the system's light/dark scheme, and give plots the palette's colours.

Qt widgets follow the platform palette on their own. Two gaps are closed
here: with the Fusion style (used where no platform theme exists) a dark
system scheme still gets a light palette, and pyqtgraph draws with its own
black background unless told otherwise.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

#: Fixed signal colours, readable on light and dark backgrounds.
INPUT_COLOUR = "#1f9ed8"
OUTPUT_COLOUR = "#e8803a"
BUDGET_COLOUR = "#d03b3b"
OK_COLOUR = "#2e9d4f"
WARN_COLOUR = "#d9a400"
CLIP_COLOUR = "#e0302a"


def is_dark(palette: QPalette) -> bool:
    """True when the window background is darker than its text."""
    window = palette.color(QPalette.ColorRole.Window).lightness()
    text = palette.color(QPalette.ColorRole.WindowText).lightness()
    return window < text


def dark_palette() -> QPalette:
    """A dark Fusion palette for platforms whose style ignores the dark scheme."""
    p = QPalette()
    base, window, text = QColor(30, 30, 32), QColor(45, 45, 48), QColor(230, 230, 230)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: window,
        QPalette.ColorRole.ToolTipBase: window,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 80, 80),
        QPalette.ColorRole.Highlight: QColor(42, 130, 218),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.PlaceholderText: QColor(150, 150, 150),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return p


def apply_system_scheme(app: QApplication) -> None:
    """Give the app a dark palette when the system asks for dark and the style did not."""
    scheme = app.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark and not is_dark(app.palette()):
        app.setPalette(dark_palette())
    elif scheme == Qt.ColorScheme.Light and is_dark(app.palette()):
        app.setPalette(app.style().standardPalette())


def follow_system_scheme(app: QApplication) -> None:
    """Apply the scheme now and again whenever the system switches it."""
    apply_system_scheme(app)
    app.styleHints().colorSchemeChanged.connect(lambda _s: apply_system_scheme(app))


def style_plot(widget: pg.PlotWidget, palette: QPalette) -> None:
    """Colour a plot's background, axes and text from ``palette``."""
    bg = palette.color(QPalette.ColorRole.Base)
    fg = palette.color(QPalette.ColorRole.WindowText)
    widget.setBackground(bg)
    item = widget.getPlotItem()
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        axis.setPen(fg)
        axis.setTextPen(fg)
    if item.titleLabel is not None:
        item.titleLabel.setAttr("color", fg)
