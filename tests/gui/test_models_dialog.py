"""Models dialog over the real model store: import, in-use line, use, bad files."""

from app.dialogs.models_dialog import ModelsDialog
from engine.store.store import ModelStore


def make_dialog(qtbot, current=None):
    dialog = ModelsDialog(ModelStore(), current or {"codec": "", "vocoder": ""})
    qtbot.addWidget(dialog)
    return dialog


def test_lists_registry_and_shows_weights_in_use(qtbot):
    dialog = make_dialog(qtbot, {"codec": "", "vocoder": "default-vocoder"})
    names = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert "default-vocoder (in use)" in names and "seed-codec" in names
    assert "codec: bundled default" in dialog.in_use.text()
    assert "vocoder: default-vocoder" in dialog.in_use.text()


def test_import_a_file_then_use_it(qtbot, tiny_codec_file):
    dialog = make_dialog(qtbot)
    worker = dialog.import_path(tiny_codec_file)
    with qtbot.waitSignal(worker.finished, timeout=20_000):
        pass
    qtbot.waitUntil(lambda: dialog.selected() is not None)
    info = dialog.selected()
    assert info.kind == "codec" and info.status == "cached"
    assert ModelStore().resolve(info.name).is_file()
    assert "Imported" in dialog.message.text()
    with qtbot.waitSignal(dialog.use_requested) as used:
        dialog.use_button.click()
    assert used.args == ["codec", info.name]
    dialog.set_current("codec", info.name)
    assert info.name in dialog.in_use.text()


def test_bad_file_is_refused_with_its_name(qtbot, tmp_path):
    bad = tmp_path / "not-weights.pt"
    bad.write_bytes(b"this is no checkpoint")
    dialog = make_dialog(qtbot)
    before = len(dialog.models)
    worker = dialog.import_path(bad)
    with qtbot.waitSignal(worker.finished, timeout=20_000):
        pass
    qtbot.waitUntil(lambda: "Failed" in dialog.message.text())
    assert "not-weights.pt" in dialog.message.text()
    dialog.refresh()
    assert len(dialog.models) == before


def test_bundled_rows_cannot_be_removed(qtbot):
    dialog = make_dialog(qtbot)
    dialog.select_name("default-codec")
    assert not dialog.remove_button.isEnabled()
    dialog.select_name("seed-codec")  # registry entry, not downloaded
    assert dialog.download_button.isEnabled() and not dialog.use_button.isEnabled()


def test_the_low_latency_vocoder_is_offered_ready_to_use(qtbot):
    dialog = make_dialog(qtbot)
    dialog.select_name("lowlatency-vocoder")
    info = dialog.selected()
    assert info is not None and info.kind == "vocoder" and info.available
    assert "16 ms less latency" in info.description
    with qtbot.waitSignal(dialog.use_requested) as used:
        dialog.use_button.click()
    assert used.args == ["vocoder", "lowlatency-vocoder"]


def test_broken_cache_folder_is_shown_as_broken_and_can_be_removed(qtbot):
    """Issue 15, item 4: an empty folder in the cache used to make the dialog raise."""
    broken = ModelStore().root / "half-imported"
    broken.mkdir(parents=True)
    dialog = make_dialog(qtbot)
    dialog.select_name("half-imported")
    assert dialog.selected().status == "broken"
    assert dialog.remove_button.isEnabled()
