"""Settings model: defaults, round trip, migration, corrupt and out-of-range files."""

import json
import logging

import pytest

from app import settings as st


def test_round_trip_keeps_every_field(tmp_path):
    # Given settings that differ from the defaults in every kind of field
    s = st.Settings(
        host_api="JACK Audio Connection Kit",
        input_device=st.DeviceChoice("system", "JACK Audio Connection Kit"),
        output_device=st.DeviceChoice("phones", "ALSA"),
        sample_rate=44_100,
        block_size=128,
        latency="0.02",
        safety_margin_ms=8.0,
        codec_enabled=False,
        chunk=7,
        tap="dry",
        previous_tap="vocoder",
        level_match=False,
        input_gain_db=-6.5,
        muted=True,
        window_geometry="01d9d0cb",
    )
    # When saved and loaded again
    path = st.save(s, tmp_path / "settings.json")
    # Then nothing is lost
    assert st.load(path) == s


def test_default_path_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv(st.CONFIG_DIR_ENV, str(tmp_path / "cfg"))
    st.save(st.Settings(chunk=3))
    assert (tmp_path / "cfg" / "settings.json").exists()
    assert st.load().chunk == 3


def test_missing_file_gives_defaults(tmp_path):
    assert st.load(tmp_path / "nope.json") == st.Settings()


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "", "\x00\x01"])
def test_corrupt_file_gives_defaults_with_warning(tmp_path, caplog, text):
    path = tmp_path / "settings.json"
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        assert st.load(path) == st.Settings()
    assert "unreadable" in caplog.text and str(path) in caplog.text


def test_bad_values_fall_back_one_by_one(tmp_path, caplog):
    # Given a file where some values are out of range or of the wrong type
    data = st.to_dict(st.Settings(chunk=4, sample_rate=44_100))
    data.update(tap="louder", input_gain_db=400.0, block_size="big", muted=1, extra=5)
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    # When loaded
    with caplog.at_level(logging.WARNING):
        s = st.load(path)
    # Then the bad ones are defaults, the good ones kept, and each is reported
    d = st.Settings()
    assert (s.tap, s.input_gain_db, s.block_size, s.muted) == (
        d.tap,
        d.input_gain_db,
        d.block_size,
        d.muted,
    )
    assert (s.chunk, s.sample_rate) == (4, 44_100)
    for word in ("tap", "input_gain_db", "block_size", "muted", "extra"):
        assert word in caplog.text


def test_constructor_refuses_out_of_range():
    with pytest.raises(ValueError, match="chunk"):
        st.Settings(chunk=11)
    with pytest.raises(ValueError, match="latency"):
        st.Settings(latency="soon")
    with pytest.raises(ValueError, match="safety_margin_ms"):
        st.Settings(safety_margin_ms=-1.0)


def test_version_1_file_is_migrated(tmp_path):
    # Given a version-1 file (no version key: chain string, bare names, linear gains)
    v1 = {"chain": "vocoder", "input": "Mic", "output": "", "host_api": "ALSA"}
    v1.update(gain_in=0.5, gain_out=0.0, chunk=3)
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(v1))
    # When loaded
    s = st.load(path)
    # Then it has the current shape with the same meaning
    assert s.version == st.SETTINGS_VERSION
    assert (s.codec_enabled, s.vocoder_enabled) == (False, True)
    assert s.input_device == st.DeviceChoice("Mic", "ALSA")
    assert s.output_device.is_default
    assert s.input_gain_db == pytest.approx(-6.02, abs=0.01)
    assert s.output_gain_db == st.GAIN_RANGE_DB[0]
    assert s.chunk == 3


def test_newer_version_keeps_known_fields(tmp_path, caplog):
    data = st.to_dict(st.Settings(chunk=9))
    data["version"] = st.SETTINGS_VERSION + 1
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        assert st.load(path).chunk == 9
    assert "newer" in caplog.text


def test_save_is_atomic_and_leaves_no_temporaries(tmp_path):
    path = st.save(st.Settings(), tmp_path / "a" / "settings.json")
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]


@pytest.mark.parametrize(
    "text",
    ['{"version": 1e400}', "[" * 100_000 + "]" * 100_000, '{"version": -3}', '{"version": "x"}'],
    ids=["version-1e400", "nested-arrays", "version-negative", "version-text"],
)
def test_hostile_file_never_stops_the_app_and_is_kept_aside(tmp_path, text):
    """Issue 15, item 3: defaults, the file moved to settings.json.bad, a notice to show."""
    path = tmp_path / "settings.json"
    path.write_text(text)
    loaded = st.load_checked(path)
    assert loaded.settings == st.Settings()
    bad = tmp_path / "settings.json.bad"
    assert not path.exists() and bad.read_text() == text
    assert str(bad) in loaded.notice
    assert st.load_checked(path).notice is None  # the next start is quiet


def test_store_carries_the_notice_and_the_window_shows_it(tmp_path, qtbot):
    from PySide6.QtWidgets import QMainWindow

    from app.main import show_notice
    from app.settings_store import SettingsStore

    path = tmp_path / "settings.json"
    path.write_text('{"version": 1e400}')
    store = SettingsStore(path)
    assert store.value == st.Settings() and "settings.json.bad" in store.notice
    window = QMainWindow()
    qtbot.addWidget(window)
    box = show_notice(window, store.notice)
    assert box is not None and box.isVisible() and not box.isModal()
    assert box.text() == store.notice
    assert show_notice(window, None) is None
