"""Errors a person can act on: classification, one dialog, the weights error path."""

import pytest

from app.dialogs.error_dialog import (
    DEVICE_LOST,
    NO_DEVICE,
    OTHER,
    SETTINGS_REFUSED,
    WEIGHTS,
    ErrorDialogs,
    classify,
)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("no audio input device found", NO_DEVICE),
        ("no input device matches 'Yeti'; inputs: [0] system (JACK)", NO_DEVICE),
        ("no audio callbacks for 0.6 s: device disconnected or audio server gone", DEVICE_LOST),
        (
            "input device 'x (ALSA)' refuses 1 channel(s) at 44100 Hz: Invalid sample rate",
            SETTINGS_REFUSED,
        ),
        ("CheckpointError: /tmp/a.pt: not a checkpoint", WEIGHTS),
        ("cannot build the stages: shapes differ", WEIGHTS),
        ("something else entirely", OTHER),
    ],
)
def test_engine_messages_are_classified(message, kind):
    advice = classify(message)
    assert advice.kind == kind
    assert advice.advice  # always says what to do


def test_same_error_is_shown_once_until_resolved(qtbot):
    calls = []
    dialogs = ErrorDialogs(None, {"Refresh devices": lambda: calls.append("refresh")})
    assert dialogs.report("no audio input device found").kind == NO_DEVICE
    assert dialogs.report("no audio input device found") is None
    assert dialogs.count == 1
    refresh = next(b for b in dialogs.dialog.buttons() if b.text() == "Refresh devices")
    refresh.click()
    assert calls == ["refresh"]
    dialogs.resolved()
    assert dialogs.report("no audio input device found") is not None
    dialogs.dialog.close()


def test_damaged_weights_get_an_actionable_dialog(qtbot, window, client, tiny_codec_file):
    # Given a codec model in the store whose file changed after it was trusted
    info = client.store.import_file(tiny_codec_file, name="my-codec")
    with open(info.path, "r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00" * 64)
    # When the person chooses it
    assert window.use_weights("codec", "my-codec") is False
    # Then one dialog says what happened and offers what to do; nothing changed
    dialog = window.session.errors.dialog
    assert dialog is not None and dialog.isVisible()
    assert "weights cannot be used" in dialog.text()
    assert "my-codec" in dialog.informativeText()
    texts = [b.text() for b in dialog.buttons()]
    assert "Open models…" in texts and "Use bundled weights" in texts
    assert window.settings.value.codec_weights == ""
    # And "Open models…" opens the models dialog
    next(b for b in dialog.buttons() if b.text() == "Open models…").click()
    assert window.models_dialog is not None and window.models_dialog.isVisible()
