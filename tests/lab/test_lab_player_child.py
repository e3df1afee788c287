"""The Lab player's child process: lost servers, frozen children, missing devices, frozen apps.

Each test that kills or freezes something runs a JACK server of its own.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import engine.lab.player_process as player_process
from engine.audio.errors import DeviceError
from engine.audio.shm import default_dir
from engine.lab.player import PairPlayer
from engine.lab.player_process import PlayerProcess
from tests.audio.jack_recorder import Recorder
from tests.audio.jack_rig import JackServer, jack_available

SR = 16_000


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


@pytest.fixture
def own_server(request, monkeypatch):
    """A JACK server this test may kill (``sync``: parametrise indirectly, default True)."""
    if not jack_available():
        pytest.skip("jackd or the JACK-Client package is not installed")
    server = JackServer(sync=getattr(request, "param", True))
    server.start()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
    yield server
    if server.proc is None:
        server.start()  # a killed server's registry slot is reclaimed by its name
    server.stop()


def _until(predicate, timeout: float) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout``."""
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout, "condition not met in time"
        time.sleep(0.01)
    return time.monotonic() - t0


def _advancing(player: PairPlayer) -> bool:
    """True when the position moves on by at least 0.1 s within 2 s."""
    start = player.state().position_s
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if player.state().position_s > start + 0.1:
            return True
        time.sleep(0.02)
    return False


def _no_leftover_files() -> list[str]:
    mine = f"streamvox-lab-{os.getpid()}-"
    return [n for n in os.listdir(default_dir()) if n.startswith((mine, "streamvox-lab-pair-"))]


def test_killed_server_mid_play_is_an_error_and_play_works_once_it_is_back(own_server):
    player = PairPlayer(hostapi="JACK", jack_client_name="svlabkill")
    x = _tone(20.0)
    try:
        player.load(x, 0.5 * x, SR)
        player.play("original")
        assert _advancing(player)
        gui_pid, child = os.getpid(), player.child_pid
        assert child is not None and child != gui_pid  # the stream is not in this process
        own_server.kill()
        took = _until(lambda: player.state().error is not None, timeout=3.0)
        st = player.state()
        assert not st.playing and player.wait(timeout=0)
        assert "audio server gone" in st.error, st.error
        kept = st.position_s
        assert 0.1 < kept < 10.0
        t0 = time.monotonic()
        player.stop()  # nothing to close: returns at once
        assert time.monotonic() - t0 < 0.5
        # While the server is away, Play says why it cannot, quickly
        with pytest.raises(DeviceError, match="no audio output device found on host API 'JACK'"):
            player.play()
        own_server.start()
        player.play()  # a fresh child, the same pair, from where it stopped
        assert player.child_pid not in (None, child)
        st = player.state()
        assert st.playing and st.error is None and st.source == "processed"
        assert kept <= st.position_s < kept + 1.0
        assert _advancing(player)
    finally:
        player.close()
    assert player.child_pid is None and _no_leftover_files() == []
    print(f"error reported {took * 1000:.0f} ms after the server was killed")


def test_server_death_while_idle_is_survived_by_a_fresh_child(own_server):
    player = PairPlayer(hostapi="JACK", jack_client_name="svlabidle")
    x = _tone(5.0)
    try:
        player.load(x, x, SR)
        player.play()
        assert _advancing(player)
        player.stop()
        child = player.child_pid
        own_server.kill()
        time.sleep(0.3)
        own_server.start()
        # the idle child's PortAudio lost its server: the player replaces it by itself
        player.play("original")
        assert player.child_pid not in (None, child)
        assert player.state().playing and _advancing(player)
    finally:
        player.close()


@pytest.mark.parametrize("own_server", [False], indirect=True)  # async: a frozen client
def test_a_frozen_child_is_killed_within_the_timeouts_and_replaced(own_server):
    # stalls only itself (a synchronous server would wait for it)
    player = PairPlayer(hostapi="JACK", jack_client_name="svlabfrozen", timeout_s=1.0)
    x = _tone(20.0)
    try:
        player.load(x, x, SR)
        player.play()
        assert _advancing(player)
        # Frozen mid-play: the watchdog notices the callbacks stopped
        frozen = player.child_pid
        os.kill(frozen, signal.SIGSTOP)
        took = _until(lambda: player.state().error is not None, timeout=player_process.STALL_S + 1)
        assert "stopped responding" in player.state().error
        assert not player.state().playing and player.child_pid is None
        assert took > 1.0  # a slow callback is not a stall
        player.play()
        assert player.child_pid not in (None, frozen) and _advancing(player)
        # Frozen when told to stop: stop returns after its timeout, the child is gone
        frozen = player.child_pid
        os.kill(frozen, signal.SIGSTOP)
        t0 = time.monotonic()
        player.stop()
        assert time.monotonic() - t0 < player.timeout_s + 1.0
        assert not player.state().playing and player.child_pid is None
        with pytest.raises(ProcessLookupError):
            os.kill(frozen, 0)
        player.play()
        assert player.child_pid is not None and _advancing(player)
    finally:
        player.close()


def test_a_missing_device_is_a_clear_error(jack_server):
    player = PairPlayer(device="no such speaker", hostapi="JACK", jack_client_name="svlabnone")
    try:
        with pytest.raises(DeviceError, match="no output device matches 'no such speaker'"):
            player.load(_tone(0.5), _tone(0.5), SR)
        assert not player.state().playing
    finally:
        player.close()


def test_the_child_leaves_when_the_gui_side_goes(monkeypatch):
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "svnone")  # no audio server needed
    events = []
    proc = PlayerProcess(256, 15.0, None, events.append)
    proc.wait_ready(timeout=30.0)
    assert not os.path.exists(proc.control.path)  # unlinked once both sides mapped it
    with pytest.raises(ValueError, match="unknown command 'dance'"):
        proc.request("dance", timeout=10.0)
    with pytest.raises(ValueError, match="nothing loaded"):
        proc.request("play", timeout=10.0, source="original", pos=0)
    proc.proc.stdin.close()  # what the OS does when the GUI process dies
    assert proc.proc.wait(timeout=5.0) == 0
    _until(lambda: events, timeout=2.0)
    assert events[0]["event"] == "exit" and "exited with status 0" in events[0]["message"]


def test_the_frozen_app_runs_the_child_through_its_entry_point(jack_server, monkeypatch):
    # A frozen app's sys.executable is `streamvox` itself: `streamvox -m engine.lab.player_child`
    # goes through app.frozen_entry; run exactly that path with this interpreter.
    frozen = [sys.executable, "-m", "app.frozen_entry", "-m", "engine.lab.player_child"]
    monkeypatch.setattr(player_process, "child_command", lambda: frozen)
    player = PairPlayer(hostapi="JACK", jack_client_name="svlabfz", block=256)
    lead = np.zeros(int(0.3 * SR), np.float32)  # the recorder connects once the ports exist
    x = np.concatenate([lead, _tone(1.0)])
    rec = Recorder(jack_server.name, "svlabfz", seconds=3.0)
    try:
        player.load(x, x, SR)
        cmdline = open(f"/proc/{player.child_pid}/cmdline").read().split("\0")
        assert cmdline[1:5] == frozen[1:]
        player.play("original", start_s=0.0)
        rec.connect()
        assert player.wait(timeout=10.0) and player.state().error is None
    finally:
        player.close()
        rec.close()
    heard = rec.rec[: rec.n]
    onset = int(np.argmax(np.abs(heard) > 0.01))
    tone = heard[onset : onset + 24_000]  # 0.5 s at 48 kHz
    assert tone.size == 24_000 and np.sqrt(np.mean(tone**2)) == pytest.approx(0.3 / 2**0.5, 0.05)


def test_the_child_refuses_to_start_without_its_arguments():
    done = subprocess.run(
        [sys.executable, "-m", "app.frozen_entry", "-m", "engine.lab.player_child"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "the following arguments are required: --control" in done.stderr
