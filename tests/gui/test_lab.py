"""The Lab tab: a real evaluation in the background, its table against the CLI's, export, play."""

import csv
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

from app.cli import main
from app.controllers.lab import LIVE_BUSY, LabController
from app.settings_store import SettingsStore
from app.views.lab_view import LabView
from engine.lab.player import PairPlayer
from tests.audio.jack_recorder import Recorder
from tests.audio.jack_rig import JackServer, jack_available
from tests.speech_fixture import SENTENCES, make_speech

CHAINS = ("dry", "mulaw", "opus@12")
METRIC_COLUMNS = {"pesq_wb": "PESQ-WB", "stoi": "STOI", "si_sdr": "SI-SDR (dB)"}
METRIC_COLUMNS["mel_l1"] = "log-mel L1"


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("lab-speech")
    for i, text in enumerate(SENTENCES[:2]):
        make_speech(d / f"utt{i}.wav", text)
    return d


@pytest.fixture
def lab(qtbot):
    """The Lab view and its controller, chains set to CHAINS, nothing added yet."""
    view = LabView()
    qtbot.addWidget(view)
    controller = LabController(view, SettingsStore())
    for cb in view.chain_boxes.values():
        cb.setChecked(False)
    view.chain_boxes["dry"].setChecked(True)
    view.chain_boxes["mulaw"].setChecked(True)
    view.more_chains.setText("opus@12")
    yield view, controller
    controller.close()


def run_to_end(qtbot, controller, timeout=60_000):
    with qtbot.waitSignal(controller.run_finished, timeout=timeout) as blocker:
        assert controller.run() is not None
    return blocker.args[0]


def rows_by_key(view):
    return {view.table.item(r, 0).data(256): r for r in range(view.table.rowCount())}


def test_lab_runs_in_the_background_and_its_table_equals_the_cli(qtbot, lab, speech_dir, tmp_path):
    view, controller = lab
    controller.add_paths([str(speech_dir)])
    assert view.files.count() == 2
    assert controller.chains() == list(CHAINS)
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    assert run_to_end(qtbot, controller) == "done"
    timer.stop()
    assert view.progress.value() == 100
    assert view.run.isEnabled() and not view.cancel.isEnabled()
    # the event loop kept running while the worker evaluated (not frozen for the whole run)
    assert len(gaps) > 20 and max(gaps[1:]) < 1.0, f"largest GUI gap {max(gaps[1:]):.3f} s"

    out = tmp_path / "cli"
    argv = ["evaluate", str(speech_dir), "--chains", ",".join(CHAINS), "--out", str(out)]
    chunk = str(controller.settings.value.chunk)
    assert main([*argv, "--no-progress", "--chunk", chunk]) == 0
    cli_rows = list(csv.DictReader((out / "utterances.csv").open()))
    assert len(cli_rows) == 6

    view.per_utterance.setChecked(True)  # the utterance rows appear under their chain
    assert view.table.rowCount() == 3 + 6
    where = rows_by_key(view)
    for cli in cli_rows:
        row = where[(cli["chain"], cli["file"])]
        assert view.cell_text(row, "utterance") == cli["file"].rsplit("/", 1)[-1]
        for field, column in METRIC_COLUMNS.items():
            assert view.cell_value(row, column) == pytest.approx(float(cli[field]), rel=1e-12)
        assert view.cell_text(row, "PESQ-WB") == f"{float(cli['pesq_wb']):.2f}"
        assert view.cell_text(row, "STOI") == f"{float(cli['stoi']):.3f}"
        assert view.cell_value(row, "latency (ms)") == float(cli["declared_latency_ms"])

    # the summary rows read exactly as the CLI's Markdown table (RTF is a timing: not compared)
    md = (out / "summary.md").read_text().splitlines()[2:]
    cli_cells = {
        cells[0]: cells for cells in ([c.strip() for c in line.split("|")[1:-1]] for line in md)
    }
    summary_rows = [r for r in range(view.table.rowCount()) if not view.cell_text(r, "utterance")]
    assert [view.cell_text(r, "chain") for r in summary_rows] == list(CHAINS)
    columns = ("chain", "n", *METRIC_COLUMNS.values(), "bitrate (kbps)", "latency (ms)")
    for r in summary_rows:
        shown = [view.cell_text(r, c) for c in columns] + [view.cell_text(r, "aligned")]
        cells = cli_cells[view.cell_text(r, "chain")]
        assert shown == cells[:8] + cells[9:]
    # what the numbers say: dry is perfect, opus at 12 kbit/s is worse
    dry, opus = summary_rows[0], summary_rows[2]
    assert view.cell_value(dry, "PESQ-WB") > 4.4 > view.cell_value(opus, "PESQ-WB")

    # plots: quality vs bitrate has one point per chain, the spread one dot per utterance
    assert sorted(p[0] for p in view.quality_points) == sorted(CHAINS)
    assert {k: len(v) for k, v in view.spread_values.items()} == dict.fromkeys(CHAINS, 2)
    view.metric_choice.setCurrentIndex(1)  # STOI
    assert view.spread_plot.getPlotItem().getAxis("left").labelText.startswith("STOI")


def test_cancel_mid_run_keeps_the_gui_usable(qtbot, lab, speech_dir):
    view, controller = lab
    controller.add_paths([str(speech_dir / "utt0.wav"), str(speech_dir / "utt1.wav")])
    seen = []

    def on_progress(done, total):
        seen.append((done, total))
        if done == 1:
            controller.cancel()

    with qtbot.waitSignal(controller.run_finished, timeout=60_000) as blocker:
        controller.run().progress.connect(on_progress)
    assert blocker.args == ["cancelled"]
    assert seen[-1][0] < seen[-1][1] == 6  # stopped before the end
    assert view.progress.value() < 100
    assert "Cancelled" in view.status.text()
    assert controller.result is None and view.table.rowCount() == 0  # nothing half-reported
    assert view.run.isEnabled() and not view.cancel.isEnabled()
    assert view.chain_boxes["dry"].isEnabled()
    view.chain_boxes["mulaw"].setChecked(False)
    view.more_chains.setText("")
    assert run_to_end(qtbot, controller) == "done"  # and it runs again afterwards
    assert view.progress.value() == 100 and view.table.rowCount() == 1


def test_typed_chains_are_checked_as_typed(lab):
    view, controller = lab
    view.more_chains.setText("opus@99")
    assert "opus@99" in view.chain_error.text()
    assert not view.run.isEnabled()
    view.more_chains.setText("mulaw@128, opus@16/10ms")
    assert view.chain_error.text() == "" and view.run.isEnabled()
    assert controller.chains() == ["dry", "mulaw", "mulaw@128", "opus@16/10ms"]
    for cb in view.chain_boxes.values():
        cb.setChecked(False)
    view.more_chains.setText("")
    assert not view.run.isEnabled() and view.chain_error.text()


def test_export_writes_csv_markdown_and_png(qtbot, lab, speech_dir, tmp_path):
    view, controller = lab
    view.more_chains.setText("")
    view.chain_boxes["mulaw"].setChecked(False)
    controller.add_paths([str(speech_dir)])
    assert not view.export.isEnabled()
    assert run_to_end(qtbot, controller) == "done"
    assert view.export.isEnabled()
    with qtbot.waitSignal(controller.exported, timeout=60_000) as blocker:
        view.export_requested.emit(str(tmp_path / "report"))
    paths = blocker.args[0]
    assert sorted(p.name for p in paths.values()) == ["summary.md", "summary.png", "utterances.csv"]
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [r["chain"] for r in rows] == ["dry", "dry"]
    assert [float(r["pesq_wb"]) for r in rows] == [r.pesq_wb for r in controller.result.rows]
    assert "| dry | 2 |" in paths["md"].read_text()
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Exported" in view.status.text()


def test_play_is_refused_while_the_live_stream_runs(qtbot, speech_dir):
    view = LabView()
    qtbot.addWidget(view)
    made = []
    controller = LabController(view, SettingsStore(), live_running=lambda: True,
                               make_player=lambda: made.append(1))  # fmt: skip
    for cb in view.chain_boxes.values():
        cb.setChecked(cb is view.chain_boxes["dry"])
    controller.add_paths([str(speech_dir / "utt0.wav")])
    try:
        assert run_to_end(qtbot, controller) == "done"
        view.table.selectRow(0)
        assert view.play_processed.isEnabled()
        assert controller.play("processed") is False
        assert view.player_label.text() == LIVE_BUSY
        assert made == []  # no device was even opened
    finally:
        controller.close()


def test_play_flip_and_stop_on_a_jack_server(qtbot, lab, speech_dir, jack_server):
    view, controller = lab
    players = []

    def make_player():
        players.append(PairPlayer(hostapi="JACK", jack_client_name="svlabgui"))
        return players[-1]

    controller._make_player = make_player
    for cb in view.chain_boxes.values():
        cb.setChecked(cb is view.chain_boxes["mulaw"])
    view.more_chains.setText("")
    controller.add_paths([str(speech_dir / "utt0.wav")])
    assert run_to_end(qtbot, controller) == "done"
    view.per_utterance.setChecked(True)
    view.table.selectRow(1)
    assert view.selected_key()[0] == "mulaw"
    view.show()
    view.activateWindow()
    qtbot.waitActive(view)
    rec = Recorder(jack_server.name, "svlabgui", seconds=6.0)
    try:
        view.play_processed.click()
        player = players[0]
        assert player.state().playing and player.state().source == "processed"
        rec.connect()
        qtbot.waitUntil(lambda: view.flip.isEnabled(), timeout=2000)
        qtbot.wait(300)
        view.flip.click()
        assert player.state().source == "original"
        view.table.setFocus()
        qtbot.keyClick(view.table, Qt.Key.Key_F)  # key F flips back and forth too
        assert player.state().source == "processed"
        qtbot.keyClick(view.table, Qt.Key.Key_F)
        assert player.state().source == "original"
        qtbot.waitUntil(lambda: "original" in view.player_label.text(), timeout=2000)
        qtbot.wait(300)
        view.stop.click()
        assert not player.state().playing
        assert 0.5 < player.state().position_s < player.state().duration_s
        assert not view.flip.isEnabled() and "stopped" in view.player_label.text()
    finally:
        controller.stop()
        rec.close()
    heard = rec.rec[: rec.n]
    assert np.sqrt(np.mean(heard**2)) > 0.01  # speech really came out of the device


@pytest.fixture
def own_server(monkeypatch):
    """A JACK server this test may kill and restart (restarted under the same name)."""
    if not jack_available():
        pytest.skip("jackd or the JACK-Client package is not installed")
    server = JackServer()
    server.start()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
    yield server
    if server.proc is None:
        server.start()  # a killed server's registry slot is reclaimed by its name
    server.stop()


def test_a_server_killed_mid_play_is_shown_and_play_works_again(qtbot, lab, speech_dir, own_server):
    view, controller = lab
    controller._make_player = lambda: PairPlayer(hostapi="JACK", jack_client_name="svlabguikill")
    for cb in view.chain_boxes.values():
        cb.setChecked(cb is view.chain_boxes["dry"])
    view.more_chains.setText("")
    controller.add_paths([str(speech_dir / "utt0.wav")])
    assert run_to_end(qtbot, controller) == "done"
    view.table.selectRow(0)
    view.play_processed.click()
    assert controller.player.state().playing and view.stop.isEnabled()
    # When the audio server dies mid-play, the Lab says so (in red) within a few seconds
    own_server.kill()
    qtbot.waitUntil(lambda: "Playback stopped" in view.player_label.text(), timeout=3000)
    assert "audio server gone" in view.player_label.text()
    assert "#d04040" in view.player_label.styleSheet()
    assert not view.flip.isEnabled() and not view.stop.isEnabled()
    assert view.play_processed.isEnabled()
    # Play while it is away: why not, at once
    view.play_original.click()
    assert view.player_label.text().startswith("Cannot play: no audio output device")
    # Back again: the same cell plays, the error is gone
    own_server.start()
    view.play_original.click()
    assert controller.player.state().playing and controller.player.state().error is None
    assert view.player_label.text().startswith("▶ original") and not view.player_label.styleSheet()
    view.stop.click()
    assert not controller.player.state().playing


def test_the_lab_is_a_tab_next_to_the_live_view(qtbot, window):
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert tabs == ["&Live", "&Tokens", "Lin&k", "La&b"]
    assert all(s.isEnabled() for s in window.view.ab.shortcuts)
    window.tabs.setCurrentWidget(window.token_view)  # a live view too: A/B while watching
    assert all(s.isEnabled() for s in window.view.ab.shortcuts)
    window.tabs.setCurrentWidget(window.lab_view)
    # the live A/B keys (1-4, Space) must not act on the live stream from the Lab
    assert not any(s.isEnabled() for s in window.view.ab.shortcuts)
    window.tabs.setCurrentWidget(window.view)
    assert all(s.isEnabled() for s in window.view.ab.shortcuts)


def test_the_lab_ticks_opus_at_6_to_18_7_kbps_beside_the_codec_by_default(qtbot):
    view = LabView()
    qtbot.addWidget(view)
    ticked = view.checked_chains()
    assert "codec" in ticked
    opus = [c for c in ticked if c.startswith("opus")]
    assert opus == ["opus@6", "opus@9.3", "opus@12", "opus@18.7"]
    assert view.chain_boxes["opus@18.7"].text() == "Opus 18.7 kbps"


@pytest.mark.parametrize("tab", ["token_view", "link_panel"])
def test_the_live_ab_keys_act_from_the_other_live_tabs(qtbot, window, tab):
    """Keys 1-4 and Space reach the A/B control while the Tokens or Link tab is shown."""
    window.tabs.setCurrentWidget(getattr(window, tab))
    window.activateWindow()
    window.tabs.currentWidget().setFocus()
    with qtbot.waitSignal(window.view.ab.tap_selected, timeout=3000) as chosen:
        qtbot.keyClick(window.tabs.currentWidget(), Qt.Key.Key_2)
    assert chosen.args == ["codec"]
    with qtbot.waitSignal(window.view.ab.toggle_requested, timeout=3000):
        qtbot.keyClick(window.tabs.currentWidget(), Qt.Key.Key_Space)


def test_digits_typed_into_the_link_fields_stay_text(qtbot, window):
    window.tabs.setCurrentWidget(window.link_panel)
    field = window.link_panel.peer
    field.clear()
    field.setFocus()
    chosen = []
    window.view.ab.tap_selected.connect(chosen.append)
    qtbot.keyClicks(field, "10.0.0.2:5004")
    assert field.text() == "10.0.0.2:5004" and chosen == []
