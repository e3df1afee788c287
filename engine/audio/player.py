"""A/B playback of one utterance: the original or its processed version, flipped in place.

The Lab plays a scored cell against its original. Both signals are aligned
(the chain's latency removed), so a flip keeps the playback position and
crossfades from one to the other over ``fade_ms`` (raised-cosine gains that
sum to one: the two versions are correlated, so equal-gain keeps the level
steady where equal-power would bump it by up to 3 dB). A flip that arrives
mid-fade reverses the fade from where it is, so repeated flips never click.

The PortAudio callback only reads preallocated arrays and a few integers the
control methods set; the signals are resampled to the device rate when they
are loaded, not while playing.

Caveat: the stream lives in the calling process. With PortAudio 19.6 and
JACK, closing a stream after the JACK server died can hang (see
``engine.audio.devices``); the live engine avoids this with a child process,
the Lab player opens its stream only while it plays.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from engine.audio.errors import StreamError

SOURCES = ("original", "processed")


@dataclass(frozen=True)
class PlayerState:
    """What the player is doing, for a front end to show."""

    playing: bool
    source: str  # the source heard (the target of a flip in progress)
    position_s: float
    duration_s: float
    device: str


class ABMixer:
    """Two aligned signals ``(2, L)`` and a read position; renders one or a crossfade.

    No device: :class:`PairPlayer` calls :meth:`render` from its callback, and
    tests call it directly. :meth:`flip` / :meth:`select` may be called from
    another thread (they only set one integer the renderer follows).
    """

    def __init__(self, original: np.ndarray, processed: np.ndarray, fade: int) -> None:
        if fade < 1:
            raise ValueError(f"fade must be >= 1 sample, got {fade}")
        a, b = np.asarray(original, np.float32), np.asarray(processed, np.float32)
        sig = np.zeros((2, max(a.shape[0], b.shape[0])), np.float32)
        sig[0, : a.shape[0]], sig[1, : b.shape[0]] = a, b
        self.sig = sig
        self.ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)).astype(np.float32)
        self.pos = 0
        self.cur = self.want = 1  # indices into SOURCES
        self.fade_at = -1  # position in the ramp while fading, else -1

    @property
    def length(self) -> int:
        """Frames in the longer signal."""
        return self.sig.shape[1]

    def start(self, source: str, pos: int) -> None:
        """Jump to ``pos`` playing ``source`` (no fade: playback is stopped)."""
        self.cur = self.want = _source_index(source)
        self.fade_at = -1
        self.pos = max(0, min(int(pos), self.length))

    def select(self, source: str) -> None:
        """Crossfade to ``source`` (nothing happens if it is already heard)."""
        self.want = _source_index(source)

    def flip(self) -> str:
        """Crossfade to the other source; return it."""
        self.want = 1 - self.want
        return SOURCES[self.want]

    def render(self, out: np.ndarray) -> int:
        """Write the next frames into ``out`` (zeros past the end); return frames of signal."""
        n = max(0, min(out.shape[0], self.length - self.pos))
        done = 0
        while done < n:
            done += self._fill(out[done:n], self.pos + done)
        out[n:] = 0.0
        self.pos += n
        return n

    def _fill(self, out: np.ndarray, pos: int) -> int:
        self._follow_request()
        sig, k = self.sig, out.shape[0]
        if self.fade_at < 0:
            out[:] = sig[self.cur, pos : pos + k]
            return k
        at = self.fade_at
        k = min(k, self.ramp.shape[0] - at)
        new, old = sig[self.want, pos : pos + k], sig[self.cur, pos : pos + k]
        np.subtract(new, old, out=out[:k])
        out[:k] *= self.ramp[at : at + k]
        out[:k] += old
        self.fade_at = at + k
        if self.fade_at >= self.ramp.shape[0]:
            self.cur, self.fade_at = self.want, -1
        return k

    def _follow_request(self) -> None:
        want, fading = self.want, self.fade_at >= 0
        if not fading and want != self.cur:
            self.fade_at = 0
        elif fading and want == self.cur:
            # reversed mid-fade: ramp[F - i] == 1 - ramp[i], so continue from the mirror point
            self.cur = 1 - want
            self.fade_at = self.ramp.shape[0] - self.fade_at


class PairPlayer:
    """Plays ``original`` or ``processed`` on an output device; :meth:`flip` swaps them."""

    def __init__(
        self,
        device: int | str | None = None,
        hostapi: str | None = None,
        block: int = 512,
        fade_ms: float = 15.0,
        jack_client_name: str | None = "streamvox-lab",
    ) -> None:
        if not 16 <= block <= 8192:
            raise ValueError(f"block must be 16..8192 frames, got {block}")
        if not 1.0 <= fade_ms <= 200.0:
            raise ValueError(f"fade_ms must be 1..200, got {fade_ms}")
        self.device, self.hostapi, self.block, self.fade_ms = device, hostapi, block, fade_ms
        self.jack_client_name = jack_client_name
        self._named = False
        self._stream = None
        self._label = ""
        self._rate = 0
        self._mixer: ABMixer | None = None
        self._stop_exc: type[Exception] = Exception
        self._buf = np.zeros(max(8192, 4 * block), np.float32)
        self._done = threading.Event()
        self._done.set()

    # -- control ------------------------------------------------------------------
    def load(self, original: np.ndarray, processed: np.ndarray, rate: int = 16_000) -> None:
        """Set the pair to play (mono ``(L,)`` each, same rate, aligned); stops playback."""
        self.stop()
        dev = self._resolve()
        self._rate = int(dev.default_samplerate)
        self._label = dev.label
        a, b = (self._to_device(np.asarray(s, np.float32), rate) for s in (original, processed))
        fade = max(1, int(round(self.fade_ms * 1e-3 * self._rate)))
        self._mixer = ABMixer(a, b, fade)

    @property
    def loaded(self) -> bool:
        """True once a pair is loaded."""
        return self._mixer is not None

    def play(self, source: str = "processed", start_s: float | None = None) -> None:
        """Play ``source`` from ``start_s`` (default: where it stopped, or the start).

        While already playing, this only crossfades to ``source``.
        """
        mixer = self._mixer
        if mixer is None:
            raise ValueError("nothing loaded: choose a result cell first")
        if self.playing:
            mixer.select(source)
            return
        pos = mixer.pos if start_s is None else int(start_s * self._rate)
        mixer.start(source, 0 if pos >= mixer.length else pos)
        self.stop()
        self._open()

    def flip(self) -> str:
        """Crossfade to the other source at the same position; return the one now heard."""
        if self._mixer is None:
            raise ValueError("nothing loaded: choose a result cell first")
        return self._mixer.flip()

    def stop(self) -> None:
        """Stop and close the stream (the position is kept)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close(ignore_errors=True)
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until playback ends (True) or ``timeout`` s pass (False)."""
        return self._done.wait(timeout)

    @property
    def playing(self) -> bool:
        """True while the stream plays."""
        return self._stream is not None and not self._done.is_set()

    def state(self) -> PlayerState:
        """A snapshot of the player for the front end."""
        m, rate = self._mixer, self._rate or 1
        return PlayerState(
            playing=self.playing,
            source=SOURCES[m.want] if m is not None else SOURCES[1],
            position_s=m.pos / rate if m is not None else 0.0,
            duration_s=m.length / rate if m is not None else 0.0,
            device=self._label,
        )

    def close(self) -> None:
        """Stop; the player can be loaded and used again later."""
        self.stop()

    # -- device ---------------------------------------------------------------------
    def _resolve(self):
        from engine.audio.devices import resolve, set_jack_client_name

        if self.jack_client_name and not self._named:
            set_jack_client_name(self.jack_client_name)  # before the first stream only
            self._named = True
        return resolve(self.device, "output", self.hostapi)

    def _to_device(self, x: np.ndarray, rate: int) -> np.ndarray:
        if rate == self._rate:
            return x
        import soxr

        return soxr.resample(x, rate, self._rate, quality="HQ").astype(np.float32)

    def _open(self) -> None:
        import sounddevice as sd

        self._stop_exc = sd.CallbackStop
        dev = self._resolve()
        channels = min(2, dev.max_output_channels)
        self._done.clear()
        try:
            stream = sd.OutputStream(
                device=dev.index,
                samplerate=self._rate,
                channels=channels,
                blocksize=self.block,
                dtype="float32",
                callback=self._callback,
                finished_callback=self._done.set,
            )
            stream.start()
        except sd.PortAudioError as exc:
            self._done.set()
            raise StreamError(f"cannot play on '{dev.label}' at {self._rate} Hz: {exc}") from exc
        self._stream = stream

    # -- audio thread -------------------------------------------------------------------
    def _callback(self, outdata, frames, _time, _status) -> None:
        buf = self._buf[:frames]
        mixer = self._mixer
        mixer.render(buf)
        outdata[:] = buf[:, None]
        if mixer.pos >= mixer.length:
            raise self._stop_exc


def _source_index(source: str) -> int:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    return SOURCES.index(source)
