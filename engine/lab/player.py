"""A/B playback of one utterance: the original or its processed version, flipped in place.

The Lab plays a scored cell against its original; :class:`ABMixer` (in
:mod:`engine.lab.player_mixer`) crossfades between the two aligned
signals at the same position.

The PortAudio stream runs in a child process (:mod:`engine.lab.player_child`),
never in the caller's: with PortAudio 19.6 and JACK, closing a stream after
the server died hangs for minutes and ``Pa_Terminate`` aborts, which would
take the GUI with it. Every wait on the child is bounded; a child that does
not answer is killed. A flip or a position read never waits on the child
(shared counters). When the device or the server goes mid-play,
:meth:`PairPlayer.state` carries the error; the pair and the position are
kept, and the next :meth:`PairPlayer.play` starts a fresh child.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass

import numpy as np

from engine.audio.errors import AudioError
from engine.audio.shm import default_dir
from engine.lab.player_mixer import SOURCES, ABMixer, source_index
from engine.lab.player_process import PlayerProcess
from engine.lab.player_protocol import POS, WANT

__all__ = ["SOURCES", "ABMixer", "PairPlayer", "PlayerState"]


@dataclass(frozen=True)
class PlayerState:
    """What the player is doing, for a front end to show."""

    playing: bool
    source: str  # the source heard (the target of a flip in progress)
    position_s: float
    duration_s: float
    device: str
    error: str | None = None  # why playback stopped on its own (device lost, server gone)


class PairPlayer:
    """Plays ``original`` or ``processed`` on an output device; :meth:`flip` swaps them.

    ``timeout_s`` bounds every command to the child (load, play, stop); the
    first one also waits up to ``start_timeout_s`` for the child to start.
    """

    def __init__(
        self,
        device: int | str | None = None,
        hostapi: str | None = None,
        block: int = 512,
        fade_ms: float = 15.0,
        jack_client_name: str | None = "streamvox-lab",
        timeout_s: float = 3.0,
        start_timeout_s: float = 10.0,
    ) -> None:
        if not 16 <= block <= 8192:
            raise ValueError(f"block must be 16..8192 frames, got {block}")
        if not 1.0 <= fade_ms <= 200.0:
            raise ValueError(f"fade_ms must be 1..200, got {fade_ms}")
        if not (0 < timeout_s and 0 < start_timeout_s):
            raise ValueError("timeouts must be positive")
        self.device, self.hostapi, self.block, self.fade_ms = device, hostapi, block, fade_ms
        self.jack_client_name = jack_client_name
        self.timeout_s, self.start_timeout_s = timeout_s, start_timeout_s
        self._proc: PlayerProcess | None = None
        self._child_loaded = False
        self._pair: np.ndarray | None = None  # (2, L) at self._src_rate
        self._src_rate = 0
        self._rate, self._frames, self._label = 0, 0, ""
        self._want = 1
        self._pos = 0  # device frames, while no loaded child holds the position
        self._gen = 0
        self._playing = False
        self._error: str | None = None
        self._done = threading.Event()
        self._done.set()
        self._lock = threading.Lock()  # play/end transitions: GUI thread vs the child's reader

    # -- control ------------------------------------------------------------------
    def load(self, original: np.ndarray, processed: np.ndarray, rate: int = 16_000) -> None:
        """Set the pair to play (mono ``(L,)`` each, same rate, aligned); stops playback.

        Raises :class:`~engine.audio.errors.DeviceError` when the output device
        is missing, :class:`~engine.audio.errors.StreamError` when the player
        process fails.
        """
        self.stop()
        a, b = (np.asarray(s, np.float32).reshape(-1) for s in (original, processed))
        pair = np.zeros((2, max(a.size, b.size)), np.float32)
        pair[0, : a.size], pair[1, : b.size] = a, b
        self._pair, self._src_rate = pair, int(rate)
        self._child_loaded, self._pos, self._error = False, 0, None
        self._with_child(lambda: None)

    @property
    def loaded(self) -> bool:
        """True once a pair is loaded."""
        return self._pair is not None

    def play(self, source: str = "processed", start_s: float | None = None) -> None:
        """Play ``source`` from ``start_s`` (default: where it stopped, or the start).

        While already playing, this only crossfades to ``source``.
        """
        if self._pair is None:
            raise ValueError("nothing loaded: choose a result cell first")
        want = source_index(source)
        if self.playing:
            self._set_want(want)
            return
        self._error = None
        self._with_child(lambda: self._start(source, start_s))

    def flip(self) -> str:
        """Crossfade to the other source at the same position; return the one now heard."""
        if self._pair is None:
            raise ValueError("nothing loaded: choose a result cell first")
        self._set_want(1 - self._want)
        return SOURCES[self._want]

    def stop(self) -> None:
        """Stop playback (the position is kept); kills a child that does not answer."""
        proc = self._proc
        if self._playing and proc is not None and proc.alive:
            proc.watch(False)
            try:
                self._pos = int(proc.request("stop", self.timeout_s)["pos"])
            except (AudioError, ValueError):
                self._discard()  # killed: the sound stopped with it
        self._playing = False
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until playback ends (True) or ``timeout`` s pass (False)."""
        return self._done.wait(timeout)

    @property
    def child_pid(self) -> int | None:
        """Process id of the audio child while one runs (for diagnostics)."""
        proc = self._proc
        return proc.proc.pid if proc is not None and proc.alive else None

    @property
    def playing(self) -> bool:
        """True while the stream plays."""
        return self._playing

    def state(self) -> PlayerState:
        """A snapshot of the player for the front end (never waits on the child)."""
        rate = self._rate or 1
        return PlayerState(
            playing=self._playing,
            source=SOURCES[self._want],
            position_s=self._position() / rate,
            duration_s=self._frames / rate,
            device=self._label,
            error=self._error,
        )

    def close(self) -> None:
        """Stop and end the child; the player can be loaded and used again later."""
        self.stop()
        if self._proc is not None:
            self._proc.quit(self.timeout_s)
            self._discard()

    # -- child ------------------------------------------------------------------------
    def _with_child(self, action) -> None:
        """Run ``action`` with a loaded child; once more with a fresh one if an old one fails.

        A child that has been idle may hold a PortAudio whose audio server
        died and came back: it cannot open anything any more.
        """
        fresh = self._proc is None or not self._proc.alive
        try:
            self._ensure_child()
            action()
        except AudioError:
            if fresh:
                raise
            self._discard()
            self._ensure_child()
            action()

    def _ensure_child(self) -> None:
        if self._proc is not None and not self._proc.alive:
            self._discard()
        if self._proc is None:
            proc = PlayerProcess(
                self.block, self.fade_ms, self.jack_client_name, lambda e: self._on_event(proc, e)
            )
            self._proc = proc
            proc.wait_ready(self.start_timeout_s)
            self._child_loaded = False
        if not self._child_loaded:
            self._load_child()

    def _load_child(self) -> None:
        fd, path = tempfile.mkstemp(prefix="streamvox-lab-pair-", suffix=".npy", dir=default_dir())
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, self._pair)
            seconds = self._pair.shape[1] / max(self._src_rate, 1)
            reply = self._proc.request(
                "load",
                self.timeout_s + seconds / 30.0,  # resampling a long file takes a while
                path=path,
                rate=self._src_rate,
                device=self.device,
                hostapi=self.hostapi,
            )
        finally:
            os.unlink(path)
        self._rate, self._frames, self._label = reply["rate"], reply["frames"], reply["device"]
        self._proc.slots[POS] = min(self._pos, self._frames)
        self._child_loaded = True

    def _start(self, source: str, start_s: float | None) -> None:
        pos = self._position() if start_s is None else int(start_s * self._rate)
        self._gen += 1
        self._want = source_index(source)
        self._proc.slots[WANT] = self._want
        self._done.clear()
        self._playing = True  # before the request: an "ended" may arrive before its reply
        try:
            self._proc.request(
                "play", self.timeout_s, source=source, pos=0 if pos >= self._frames else pos,
                gen=self._gen,
            )  # fmt: skip
            with self._lock:  # not if the take already ended (a very short one)
                if self._playing:
                    self._proc.watch(True)
        except BaseException:
            self._playing = False
            self._done.set()
            raise

    def _set_want(self, want: int) -> None:
        self._want = want
        if self._proc is not None:
            self._proc.slots[WANT] = want

    def _position(self) -> int:
        if self._proc is not None and self._child_loaded:
            return int(self._proc.slots[POS])
        return self._pos

    def _discard(self) -> None:
        """Forget the child (killing it if needed), keeping the position it reached."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._child_loaded:
            self._pos = int(proc.slots[POS])
        proc.kill()
        self._child_loaded = False

    def _on_event(self, proc: PlayerProcess, event: dict) -> None:
        """From a child's reader thread: the take ended, or the stream / child died."""
        kind = event.get("event")
        if proc is not self._proc or (kind == "ended" and event.get("gen") != self._gen):
            return  # from a child already replaced, or the end of an earlier take
        with self._lock:
            if kind in ("failed", "exit") and not self._playing:
                return  # an idle child went away: the next play starts a fresh one
            if kind in ("failed", "exit"):
                self._error = event.get("message") or "the audio player stopped"
            proc.watch(False)
            self._playing = False
            self._done.set()
