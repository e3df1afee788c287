"""Window-level behaviour: 1280x720, keyboard reach, geometry memory, palette, main()."""

import logging

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from app import crash, settings, theme
from app.main_window import MainWindow
from app.settings_store import SettingsStore
from app.views.plot_base import Plot


def controls(w):
    v = w.view
    d, c, m = v.devices, v.chain, v.mix
    return [
        v.transport.button,
        *v.ab.buttons.values(),
        v.ab.level_match,
        d.host_api,
        d.input,
        d.output,
        d.rate,
        d.block,
        d.latency,
        d.refresh,
        c.codec,
        c.vocoder,
        c.chunk,
        c.models,
        *v.levels.clip.values(),
        m.master_bypass,
        m.input_gain,
        m.output_gain,
        m.mute,
        v.latency.measure,
    ]


def test_every_control_is_fully_visible_at_1280x720(qtbot, window):
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: window.size().width() == 1280)
    QApplication.processEvents()
    for c in controls(window):
        assert c.isVisible(), c
        shown = c.visibleRegion().boundingRect().size()
        assert shown == c.size(), f"{c.objectName() or type(c).__name__} clipped: {shown}"


def test_tab_reaches_every_control(qtbot, window):
    # the A/B buttons form one exclusive group: Tab stops once in it, the arrow keys
    # move within it (next test) and the keys 1-4 choose (test_controls.py)
    ab = list(window.view.ab.buttons.values())
    wanted = [c for c in controls(window) if c not in ab]
    qtbot.waitUntil(window.view.devices.refresh.isEnabled)
    window.view.transport.button.setFocus()
    qtbot.waitUntil(lambda: window.view.transport.button.hasFocus())
    seen = []
    for _ in range(3 * len(wanted)):
        seen.append(QApplication.focusWidget())
        qtbot.keyClick(QApplication.focusWidget(), "\t")
    missing = [c.accessibleName() or type(c).__name__ for c in wanted if c not in seen]
    assert any(b in seen for b in ab)
    assert missing == []


def test_geometry_is_remembered(qtbot, client):
    first = MainWindow(client, SettingsStore())
    qtbot.addWidget(first)
    first.show()
    first.resize(1100, 700)
    qtbot.waitUntil(lambda: first.width() == 1100)
    first.close()
    assert settings.load().window_geometry
    second = MainWindow(client, SettingsStore())
    qtbot.addWidget(second)
    second.show()
    assert (second.width(), second.height()) == (1100, 700)
    second.close()


def test_plots_follow_a_dark_palette(qtbot):
    plot = Plot()
    qtbot.addWidget(plot)
    dark = theme.dark_palette()
    assert theme.is_dark(dark) and not theme.is_dark(theme.QPalette())
    plot.setPalette(dark)
    assert plot.backgroundBrush().color() == dark.color(QPalette.ColorRole.Base)
    axis = plot.getPlotItem().getAxis("left")
    assert axis.textPen().color() == dark.color(QPalette.ColorRole.WindowText)


def test_main_runs_logs_and_exits_cleanly(qtbot, private_dirs, caplog):
    from app.main import main

    def close_all():
        for w in QApplication.topLevelWidgets():
            if isinstance(w, MainWindow):
                w.close()

    QTimer.singleShot(4000, close_all)
    with caplog.at_level(logging.INFO):
        assert main([]) == 0
    log_file = private_dirs / "logs" / crash.LOG_NAME
    assert log_file.exists() and "settings from" in log_file.read_text()
    assert settings.settings_path().exists()  # the window saved its geometry on close


def test_arrow_keys_move_within_the_ab_group(qtbot, window):
    buttons = list(window.view.ab.buttons.values())
    buttons[0].setFocus()
    qtbot.waitUntil(buttons[0].hasFocus)
    visited = [QApplication.focusWidget()]
    for _ in range(3):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Right)
        visited.append(QApplication.focusWidget())
    assert visited == buttons
