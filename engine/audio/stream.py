"""Device streams whose callbacks only move audio between the device and the rings.

Runs inside the audio host process. The callbacks copy (mixing several
input channels down to mono, copying mono out to every output channel) into
preallocated buffers, count PortAudio's status flags into shared int64
slots and poke the engine's wake-up pipe. They never allocate arrays, run a
model, log, or take a lock.

One full-duplex stream is used when PortAudio accepts the device pair (the
input and output then share one clock and the latency is exact); otherwise
an input and an output stream run side by side, and the output callback
measures how far the output runs ahead of the input (``shm.SKEW``).

On JACK the streams are opened without a fixed block size: the callbacks
then get JACK's own period directly. With a fixed size PortAudio's buffer
processor adds one period of latency to a full-duplex stream (measured:
128 frames at ``-p 128``) even when that size equals the period.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from engine.audio import shm
from engine.audio.devices import DeviceInfo, check_settings, resolve
from engine.audio.errors import StreamError

LATENCIES = ("low", "high")


@dataclass(frozen=True)
class StreamSpec:
    """What to open. Devices are an index, a name substring, or None (default)."""

    input: int | str | None = None
    output: int | str | None = None
    hostapi: str | None = None
    rate: int | None = None
    block: int = 256
    latency: str | float = "low"
    in_channels: int = 1
    out_channels: int | None = None  # None: up to 2, what the device has
    duplex: bool = True  # try one full-duplex stream first (False: always two streams)

    def __post_init__(self) -> None:
        if not 16 <= self.block <= 8192:
            raise ValueError(f"block must be 16..8192 frames, got {self.block}")
        if self.rate is not None and not 8000 <= self.rate <= 384000:
            raise ValueError(f"rate must be 8000..384000 Hz, got {self.rate}")
        if isinstance(self.latency, str) and self.latency not in LATENCIES:
            raise ValueError(f"latency must be 'low', 'high' or seconds, got {self.latency!r}")
        if not isinstance(self.latency, str) and not 0 < float(self.latency) < 1:
            raise ValueError(f"latency in seconds must be in (0, 1), got {self.latency}")
        if self.in_channels not in (1, 2):
            raise ValueError(f"in_channels must be 1 or 2, got {self.in_channels}")
        if self.out_channels not in (None, 1, 2):
            raise ValueError(f"out_channels must be 1, 2 or None, got {self.out_channels}")

    def to_json(self) -> str:
        """Serialise (to pass to the host process)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> StreamSpec:
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))


@dataclass(frozen=True)
class StreamInfo:
    """What was actually opened (latencies in seconds, as PortAudio reports them)."""

    rate: int
    block: int
    in_channels: int
    out_channels: int
    input_latency: float
    output_latency: float
    duplex: bool
    input_name: str
    output_name: str


def is_jack(device: DeviceInfo) -> bool:
    """True for a device of PortAudio's JACK host API."""
    return "jack" in device.hostapi.lower()


def jack_period(device: DeviceInfo, rate: int) -> int:
    """JACK's period in frames: PortAudio's JACK host reports it as the default latency."""
    return max(1, round(device.default_low_output_latency * rate))


class DeviceStream:
    """Open the device(s) for ``spec``; callbacks feed ``block``'s rings."""

    def __init__(self, spec: StreamSpec, block: shm.SharedBlock, wake: Callable[[], None]) -> None:
        import sounddevice as sd

        self._sd = sd
        dev_in = resolve(spec.input, "input", spec.hostapi)
        dev_out = resolve(spec.output, "output", spec.hostapi)
        rate = int(spec.rate or dev_out.default_samplerate)
        in_ch = min(spec.in_channels, dev_in.max_input_channels)
        out_ch = min(spec.out_channels or 2, dev_out.max_output_channels)
        check_settings(dev_in, "input", rate, in_ch)
        check_settings(dev_out, "output", rate, out_ch)
        self.shared = block
        self._control = block.control
        self._in_ring, self._out_ring = block.in_ring, block.out_ring
        self._wake = wake
        self._scratch_in = np.zeros(max(8192, 2 * spec.block), np.float32)
        self._scratch_out = np.zeros(max(8192, 2 * spec.block), np.float32)
        self._in_scale = np.float32(1.0 / in_ch)
        self._rate = float(rate)
        jack = is_jack(dev_in) and is_jack(dev_out)
        block_frames = jack_period(dev_out, rate) if jack else spec.block
        # On JACK both streams run in the same cycles: the skew is whole periods.
        self._skew_quantum = block_frames if jack else 1
        self._streams = self._open(spec, dev_in, dev_out, rate, in_ch, out_ch, jack)
        lat_in, lat_out = self._latencies()
        self.info = StreamInfo(
            rate,
            block_frames,
            in_ch,
            out_ch,
            lat_in,
            lat_out,
            len(self._streams) == 1,
            dev_in.label,
            dev_out.label,
        )

    def _open(
        self,
        spec: StreamSpec,
        dev_in: DeviceInfo,
        dev_out: DeviceInfo,
        rate: int,
        in_ch: int,
        out_ch: int,
        jack: bool = False,
    ) -> list:
        sd = self._sd
        block = 0 if jack else spec.block  # 0: the host's own period (see the module doc)
        common = dict(samplerate=rate, blocksize=block, dtype="float32", latency=spec.latency)
        if spec.duplex:
            try:
                return [
                    sd.Stream(
                        device=(dev_in.index, dev_out.index),
                        channels=(in_ch, out_ch),
                        callback=self._duplex,
                        **common,
                    )
                ]
            except sd.PortAudioError:
                pass  # this pair cannot run full duplex: two streams
        try:
            return [
                sd.InputStream(device=dev_in.index, channels=in_ch, callback=self._input, **common),
                sd.OutputStream(
                    device=dev_out.index, channels=out_ch, callback=self._output, **common
                ),
            ]
        except sd.PortAudioError as exc:
            raise StreamError(
                f"cannot open '{dev_in.label}' -> '{dev_out.label}' at {rate} Hz, "
                f"block {spec.block}: {exc}"
            ) from exc

    def _latencies(self) -> tuple[float, float]:
        if len(self._streams) == 1:
            lat = self._streams[0].latency
            return float(lat[0]), float(lat[1])
        return float(self._streams[0].latency), float(self._streams[1].latency)

    # -- callbacks (audio thread) -------------------------------------------------
    def _flags(self, status) -> None:
        c = self._control
        if status.input_overflow:
            c[shm.IN_OVERFLOW] += 1
        if status.output_underflow:
            c[shm.OUT_UNDERFLOW] += 1
        if status.input_underflow:
            c[shm.IN_UNDERFLOW] += 1
        if status.output_overflow:
            c[shm.OUT_OVERFLOW] += 1

    def _take_input(self, indata: np.ndarray, frames: int) -> None:
        if indata.shape[1] == 1:
            self._in_ring.write(indata[:, 0])
            return
        for start in range(0, frames, self._scratch_in.shape[0]):
            part = indata[start : start + self._scratch_in.shape[0]]
            buf = self._scratch_in[: part.shape[0]]
            np.sum(part, axis=1, out=buf)
            buf *= self._in_scale
            self._in_ring.write(buf)

    def _give_output(self, outdata: np.ndarray, frames: int) -> None:
        step = self._scratch_out.shape[0]
        for start in range(0, frames, step):
            part = outdata[start : start + step]
            buf = self._scratch_out[: part.shape[0]]
            self._out_ring.read_timed(buf)
            part[:] = buf[:, None]

    def _tick(self) -> None:
        c = self._control
        c[shm.CALLBACKS] += 1
        c[shm.LAST_CALLBACK_NS] = time.monotonic_ns()
        self._wake()

    def _duplex(self, indata, outdata, frames, _time, status) -> None:
        if status:
            self._flags(status)
        self._take_input(indata, frames)
        self._give_output(outdata, frames)
        self._tick()

    def _input(self, indata, frames, _time, status) -> None:
        if status:
            self._flags(status)
        start = self._in_ring.write_index
        self._take_input(indata, frames)
        phase = (start - time.monotonic() * self._rate) * shm.PHASE_UNIT
        self._control[shm.IN_PHASE] = int(phase)
        self._tick()

    def _output(self, outdata, frames, _time, status) -> None:
        """Also measures the skew: output index minus input index at the same instant.

        Both indices are taken at their own callback's start and the one
        seen last is carried to now by the clock, so the skew does not depend
        on which stream's callback runs first in a cycle. (Sampling the output
        index in the input callback instead was one block off on JACK, where
        the input callback runs first.)
        """
        if status:
            self._flags(status)
        c = self._control
        if c[shm.CALLBACKS]:
            now = self._out_ring.read_index - time.monotonic() * self._rate
            q = self._skew_quantum
            c[shm.SKEW] = q * round((now - c[shm.IN_PHASE] / shm.PHASE_UNIT) / q)
            c[shm.SKEWS] += 1
        self._give_output(outdata, frames)

    # -- control --------------------------------------------------------------------
    def start(self) -> None:
        """Start the stream(s): output first, so the prefill is already playing."""
        for s in reversed(self._streams):
            s.start()

    @property
    def active(self) -> bool:
        """False once PortAudio stopped calling us (device gone, server died)."""
        return all(s.active for s in self._streams)

    def close(self) -> None:
        """Stop and close (may block if the audio server died: the host then exits hard)."""
        for s in self._streams:
            s.close(ignore_errors=True)
