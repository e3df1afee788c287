"""Classic codecs in the A/B choosers and the Lab's chain boxes; greyed out without a library."""

import pytest
from PySide6.QtCore import Qt

from app.controllers.lab import LabController
from app.settings_store import SettingsStore
from app.views.ab_view import ABView, tap_label
from app.views.lab_view import LabView
from engine.classic import codec2_codec
from engine.classic.native_lib import NativeLib

GONE = NativeLib("libcodec2-gone.so.9", "codec2-gone", "libcodec2-1.0", "Codec 2")
REASON = "Codec 2 needs the system library libcodec2-gone.so.9: apt install libcodec2-1.0"


@pytest.fixture
def no_codec2(monkeypatch):
    monkeypatch.setattr(codec2_codec, "LIB", GONE)


def entry(combo, tap):
    index = combo.findData(tap)
    assert index >= 0, f"{tap} is not offered"
    return index, combo.model().item(index)


def test_choosers_offer_the_classic_codecs_in_words(qtbot):
    view = ABView()
    qtbot.addWidget(view)
    combo = view.slot_combos["B"]
    for tap, label in [
        ("amrwb@8.85", "AMR-WB 8.85 kbit/s"),
        ("speex@9.8", "Speex-WB 9.8 kbit/s"),
        ("codec2@3.2", "Codec 2 3.2 kbit/s"),
        ("amrwb@8.85+vocoder", "AMR-WB 8.85 kbit/s + vocoder"),
    ]:
        index, item = entry(combo, tap)
        assert combo.itemText(index) == label == tap_label(tap) and item.isEnabled()


def test_a_tap_without_its_library_is_greyed_out_with_the_reason(qtbot, no_codec2):
    view = ABView()
    qtbot.addWidget(view)
    combo = view.slot_combos["A"]
    index, item = entry(combo, "codec2@3.2")
    assert not item.isEnabled()
    assert combo.itemText(index) == "Codec 2 3.2 kbit/s (unavailable)"
    assert combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == f"unavailable: {REASON}"
    assert entry(combo, "amrwb@8.85")[1].isEnabled()


def test_lab_boxes_show_the_classic_codecs(qtbot):
    view = LabView()
    qtbot.addWidget(view)
    for name in ("amrwb@6.6", "amrwb@8.85", "amrwb@12.65", "speex@9.8", "codec2@3.2"):
        assert view.chain_boxes[name].isEnabled()


def test_lab_box_without_its_library_stays_greyed_out(qtbot, no_codec2):
    view = LabView()
    qtbot.addWidget(view)
    controller = LabController(view, SettingsStore())
    box = view.chain_boxes["codec2@3.2"]
    assert not box.isEnabled() and not box.isChecked()
    assert box.toolTip() == f"unavailable: {REASON}"
    view.set_running(True)
    view.set_running(False)
    assert not box.isEnabled() and view.chain_boxes["amrwb@8.85"].isEnabled()
    # a typed chain that needs the missing library: the reason, and no Run
    view.more_chains.setText("codec2@1.2")
    assert view.chain_error.text() == REASON and not view.run.isEnabled()
    view.more_chains.setText("amrwb@8.85")
    assert view.chain_error.text() == "" and view.run.isEnabled()
    controller.close()
