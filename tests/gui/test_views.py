"""Pure-GUI behaviour of the views: shortcuts, pickers, latching lights, the crash hook."""

import sys

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget

from app.crash import ExceptionHook, add_file_logging
from app.views.ab_view import ABView
from app.views.chain_view import ChainView
from app.views.device_view import DeviceCatalogue, DeviceSelection, DeviceView
from app.views.level_view import LevelView
from app.views.timing_view import StageTiming, TimingView
from app.views.waveform_view import WaveformView


@pytest.fixture
def ab(qtbot):
    host = QWidget()
    layout = QVBoxLayout(host)
    view = ABView()
    edit = QLineEdit()
    layout.addWidget(view)
    layout.addWidget(edit)
    qtbot.addWidget(host)
    host.show()
    host.activateWindow()
    qtbot.waitActive(host)
    yield view, edit
    host.close()


def test_number_keys_select_taps_and_space_toggles(qtbot, ab):
    view, _edit = ab
    got = []
    view.tap_selected.connect(got.append)
    toggles = []
    view.toggle_requested.connect(lambda: toggles.append(1))
    view.buttons["dry"].setFocus()
    for key in (Qt.Key.Key_3, Qt.Key.Key_1, Qt.Key.Key_4, Qt.Key.Key_2):
        qtbot.keyClick(view.window(), key)
    qtbot.keyClick(view.window(), Qt.Key.Key_Space)
    assert got == ["vocoder", "dry", "codec+vocoder", "codec"]
    assert toggles == [1]


def test_text_field_keeps_its_digits(qtbot, ab):
    view, edit = ab
    got = []
    view.tap_selected.connect(got.append)
    edit.setFocus()
    qtbot.keyClicks(edit, "12 3")
    assert edit.text() == "12 3"
    assert got == []


def test_set_tap_checks_one_button_quietly(qtbot):
    view = ABView()
    qtbot.addWidget(view)
    got = []
    view.tap_selected.connect(got.append)
    view.set_tap("codec")
    assert [t for t, b in view.buttons.items() if b.isChecked()] == ["codec"]
    assert got == []
    with pytest.raises(ValueError):
        view.set_tap("wet")


CATALOGUE = DeviceCatalogue(
    host_apis=("ALSA", "JACK Audio Connection Kit"),
    inputs={"ALSA": ("USB Mic", "Built-in"), "JACK Audio Connection Kit": ("system",)},
    outputs={"ALSA": ("Built-in",), "JACK Audio Connection Kit": ("system",)},
    default_input={"ALSA": "Built-in", "JACK Audio Connection Kit": "system"},
    default_output={"ALSA": "Built-in", "JACK Audio Connection Kit": "system"},
)


def test_device_pickers_follow_host_api(qtbot):
    view = DeviceView()
    qtbot.addWidget(view)
    view.set_catalogue(CATALOGUE)
    view.select(DeviceSelection("ALSA", "USB Mic", "", 44_100, 128, "high"))
    assert view.selection() == DeviceSelection("ALSA", "USB Mic", "", 44_100, 128, "high")
    assert [view.input.itemText(i) for i in range(view.input.count())] == [
        "Default (Built-in)",
        "USB Mic",
        "Built-in",
    ]
    changes = []
    view.changed.connect(lambda: changes.append(view.selection()))
    view.host_api.setCurrentIndex(1)
    assert changes[-1].host_api == "JACK Audio Connection Kit"
    assert changes[-1].input_name == ""  # USB Mic is not a JACK device
    assert view.input.count() == 2


def test_unknown_device_selects_default_entry(qtbot):
    view = DeviceView()
    qtbot.addWidget(view)
    view.set_catalogue(CATALOGUE)
    view.select(DeviceSelection("ALSA", "Gone Mic", "Built-in", 48_000, 256, "low"))
    assert view.selection().input_name == ""
    assert view.selection().output_name == "Built-in"


def test_block_labels_show_milliseconds_at_the_rate(qtbot):
    view = DeviceView()
    qtbot.addWidget(view)
    view.select(DeviceSelection("", "", "", 16_000, 256, "low"))
    assert "16.0 ms" in view.block.currentText()
    view.rate.setCurrentIndex(view.rate.findData(48_000))
    assert "5.3 ms" in view.block.currentText()
    assert view.selection().block_size == 256


def test_chunk_label_shows_latency_cost(qtbot):
    view = ChainView()
    qtbot.addWidget(view)
    view.set_frame_ms(20.0)
    got = []
    view.chunk_changed.connect(got.append)
    view.chunk.setValue(3)
    assert got == [3]
    assert "60 ms" in view.chunk_label.text() and "+20 ms" in view.chunk_label.text()


def test_clip_light_latches_until_clicked(qtbot):
    view = LevelView()
    qtbot.addWidget(view)
    view.note_clip("out")
    view.set_levels((-30.0, -20.0), (-40.0, -30.0))
    assert view.clipped == {"in": False, "out": True}
    qtbot.mouseClick(view.clip["out"], Qt.MouseButton.LeftButton)
    assert view.clipped["out"] is False


def test_waveform_draws_what_it_is_given(qtbot):
    view = WaveformView()
    qtbot.addWidget(view)
    x = np.sin(np.linspace(0, 20, 400)).astype(np.float32)
    view.set_waveforms(x, -x)
    np.testing.assert_array_equal(view.drawn("in"), x)
    np.testing.assert_array_equal(view.drawn("out"), -x)


def test_timing_rows_scroll_and_hide(qtbot):
    view = TimingView()
    qtbot.addWidget(view)
    view.show()
    for ms in (1.0, 2.0, 3.0):
        view.push([StageTiming("codec", ms, ms, ms, 15.0), StageTiming("vocoder", 9, 9, 9, 40)])
    assert list(view.history("codec")[-3:]) == [1.0, 2.0, 3.0]
    view.push([StageTiming("codec", 4.0, 4.0, 4.0, 15.0)])
    assert not view.rows["vocoder"].plot.isVisible()
    assert view.rows["codec"].budget.value() == 15.0


def test_crash_hook_logs_all_and_opens_one_dialog(qtbot, private_dirs):
    log_file = add_file_logging(private_dirs / "logs")
    hook = ExceptionHook(log_file).install()
    try:
        for i in range(5):
            try:
                raise RuntimeError(f"boom {i}")
            except RuntimeError:
                hook.handle(*sys.exc_info())
        qtbot.waitUntil(lambda: hook.count == 5)
    finally:
        hook.uninstall()
    assert hook.dialog is not None and hook.dialog.isVisible()
    assert "4 more error(s)" in hook.dialog.informativeText()
    assert "boom 0" in hook.dialog.text()
    dialogs = [w for w in qtbot_widgets() if type(w).__name__ == "QMessageBox" and w.isVisible()]
    assert len(dialogs) == 1
    text = log_file.read_text()
    assert all(f"boom {i}" in text for i in range(5))
    hook.dialog.close()


def qtbot_widgets():
    from PySide6.QtWidgets import QApplication

    return QApplication.topLevelWidgets()
