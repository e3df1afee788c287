"""The Lab player's audio child (``python -m engine.lab.player_child --control PATH``).

This process owns PortAudio for the Lab's A/B playback, so a vanished device
or a dying audio server can hang or abort it without touching the GUI (with
JACK, PortAudio 19.6 hangs in ``Pa_CloseStream`` after the server died and
aborts in ``Pa_Terminate``). The GUI side (:mod:`engine.lab.player_process`)
kills it when it does not answer in time and starts a fresh one.

Protocol: one JSON object per line. In: ``{"id", "cmd": "load" | "play" |
"stop" | "quit", ...}``. Out: ``{"event": "ready"}`` once, a reply per
command (``{"id", "ok": true, ...}`` or ``{"id", "error", "kind"}``) and the
events ``{"event": "ended", "gen"}`` (take ``gen`` played to the end) and ``{"event": "failed",
"message"}`` (the stream died; the process then leaves at once, without
touching PortAudio again). Flips and the position go through the shared
:class:`~engine.lab.player_protocol.ControlBlock`.

It always leaves with ``os._exit`` (PortAudio's clean-up at exit can hang).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time

import numpy as np

from engine.audio.child import emit_line
from engine.audio.errors import AudioError, StreamError
from engine.lab.player_mixer import ABMixer, source_index
from engine.lab.player_protocol import CALLBACKS, POS, WANT, ControlBlock

STALL_S = 2.0  # no callback for this long while playing: the device or server is gone
LEAVE_S = 3.0  # closing PortAudio on the way out may take this long, then exit hard
LOST = "the audio stream stopped: output device disconnected or audio server gone"


def emit(**fields) -> None:
    """One line to the GUI side (only the main thread writes)."""
    emit_line(fields)


class PlayerChild:
    """Command loop, stream watch and the audio callback."""

    def __init__(self, control: str, block: int, fade_ms: float) -> None:
        self.ctl = ControlBlock(control, create=False).slots
        self.block, self.fade_ms = block, fade_ms
        self.commands: queue.Queue[dict | None] = queue.Queue()
        self.stream = None
        self.mixer: ABMixer | None = None
        self.rate, self.label, self.channels, self.index = 0, "", 1, None
        self.buf = np.zeros(max(8192, 4 * block), np.float32)
        self.stop_exc: type[Exception] = Exception
        self._seen, self._seen_at = 0, 0.0
        self.gen = 0  # the GUI side's number for the take playing

    # -- loop ----------------------------------------------------------------------------
    def run(self) -> int:
        """Serve commands until told to quit, the GUI side goes, or the stream dies."""
        threading.Thread(target=self._read_commands, daemon=True).start()
        emit(event="ready", pid=os.getpid())
        while True:
            try:
                cmd = self.commands.get(timeout=0.02)
            except queue.Empty:
                cmd = {}
            if cmd is None or cmd.get("cmd") == "quit":  # None: the GUI side is gone
                self._leave()
                if cmd is not None:
                    emit(id=cmd.get("id"), ok=True)
                return 0
            if cmd:
                self._serve(cmd)
            lost = self._watch()
            if lost:
                emit(event="failed", message=lost)
                return 3  # the stream is left as it is: closing it could hang

    def _read_commands(self) -> None:
        for line in sys.stdin:
            try:
                self.commands.put(json.loads(line))
            except ValueError:
                continue
        self.commands.put(None)

    def _serve(self, cmd: dict) -> None:
        handler = {"load": self.load, "play": self.play, "stop": self.stop}.get(cmd.get("cmd"))
        try:
            if handler is None:
                raise ValueError(f"unknown command {cmd.get('cmd')!r}")
            reply = handler(cmd) or {}
        except (AudioError, ValueError) as exc:
            emit(id=cmd.get("id"), error=str(exc), kind=type(exc).__name__)
            return
        except Exception as exc:  # noqa: BLE001 - whatever PortAudio throws is reported
            emit(id=cmd.get("id"), error=f"{type(exc).__name__}: {exc}", kind="StreamError")
            return
        emit(id=cmd.get("id"), ok=True, **reply)

    def _watch(self) -> str | None:
        """Why the stream died, or None; reports a natural end as ``ended``."""
        stream = self.stream
        if stream is None:
            return None
        if not stream.active:
            if self.mixer.pos < self.mixer.length:
                return LOST
            self._close()
            emit(event="ended", gen=self.gen)
            return None
        count, now = int(self.ctl[CALLBACKS]), time.monotonic()
        if count != self._seen:
            self._seen, self._seen_at = count, now
        elif now - self._seen_at > STALL_S:
            return f"the output device stopped asking for audio for {STALL_S:g} s ({LOST})"
        return None

    # -- commands ---------------------------------------------------------------------------
    def load(self, cmd: dict) -> dict:
        """Resolve the device, resample the pair ``(2, L)`` saved at ``path`` to its rate."""
        from engine.audio.devices import resolve

        self._close()
        dev = resolve(cmd.get("device"), "output", cmd.get("hostapi"))
        self.rate, self.label = int(dev.default_samplerate), dev.label
        self.index, self.channels = dev.index, min(2, dev.max_output_channels)
        pair = np.load(cmd["path"])
        a, b = (_resample(pair[i], int(cmd["rate"]), self.rate) for i in range(2))
        fade = max(1, int(round(self.fade_ms * 1e-3 * self.rate)))
        self.mixer = ABMixer(a, b, fade)
        self.ctl[POS] = 0
        return {"rate": self.rate, "device": self.label, "frames": self.mixer.length}

    def play(self, cmd: dict) -> dict:
        """Open a stream and play ``source`` from frame ``pos``."""
        import sounddevice as sd

        if self.mixer is None:
            raise ValueError("nothing loaded")
        self._close()
        self.gen = cmd.get("gen", 0)
        source = cmd.get("source", "processed")
        self.mixer.start(source, int(cmd.get("pos", 0)))
        self.ctl[WANT] = source_index(source)
        self.ctl[POS] = self.mixer.pos
        self.stop_exc = sd.CallbackStop
        try:
            stream = sd.OutputStream(
                device=self.index,
                samplerate=self.rate,
                channels=self.channels,
                blocksize=self.block,
                dtype="float32",
                callback=self._callback,
            )
            stream.start()
        except sd.PortAudioError as exc:
            raise StreamError(f"cannot play on '{self.label}' at {self.rate} Hz: {exc}") from exc
        self._seen, self._seen_at = int(self.ctl[CALLBACKS]), time.monotonic()
        self.stream = stream
        return {"pos": self.mixer.pos}

    def stop(self, _cmd: dict) -> dict:
        """Close the stream; the position stays in the control block."""
        self._close()
        return {"pos": int(self.ctl[POS])}

    def _close(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.close(ignore_errors=True)

    def _leave(self) -> None:
        """Close politely (a vanished JACK client stalls a sync server), never for long."""
        timer = threading.Timer(LEAVE_S, lambda: os._exit(4))
        timer.daemon = True
        timer.start()
        self._close()
        sd = sys.modules.get("sounddevice")
        if sd is not None:
            try:
                sd._terminate()
            except Exception:  # noqa: BLE001 - leaving anyway
                pass

    # -- audio thread --------------------------------------------------------------------------
    def _callback(self, outdata, frames, _time, _status) -> None:
        buf, mixer, ctl = self.buf[:frames], self.mixer, self.ctl
        mixer.select_index(ctl[WANT])
        mixer.render(buf)
        outdata[:] = buf[:, None]
        ctl[POS] = mixer.pos
        ctl[CALLBACKS] += 1
        if mixer.pos >= mixer.length:
            raise self.stop_exc


def _resample(x: np.ndarray, rate: int, to: int) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if rate == to:
        return x
    import soxr

    return soxr.resample(x, rate, to, quality="HQ").astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    """Parse the GUI side's arguments and serve; always exits hard (see module doc)."""
    p = argparse.ArgumentParser(description="streamvox Lab player (started by the GUI)")
    p.add_argument("--control", required=True)
    p.add_argument("--block", type=int, default=512)
    p.add_argument("--fade-ms", type=float, default=15.0)
    p.add_argument("--jack-name", default=None)
    args = p.parse_args(argv)
    if args.jack_name:
        from engine.audio.devices import set_jack_client_name

        set_jack_client_name(args.jack_name)  # before PortAudio opens anything
    code = PlayerChild(args.control, args.block, args.fade_ms).run()
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
