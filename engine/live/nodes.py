"""Signal nodes of the live graph: each keeps a device-rate history of one tap.

Every node appends exactly ``n`` samples to its :class:`~engine.dsp.mix.History`
per engine block of ``n`` input samples, so all histories share one time
axis and a tap can be read at any delay. A node's :attr:`delay` says how far
behind the device input its history is; the mixer reads each tap at
``aligned_latency - delay`` so that every tap comes out at the same time.

Wet delay, in device samples (``r = device_rate / 16000``)::

    delay = pad + d_up + (stage_latency_16k + d_down) * r

``d_down`` / ``d_up`` are the measured resampler delays; ``pad`` >= 1
absorbs the rounding of the count-exact resamplers (see ``_prime``).
"""

from __future__ import annotations

import time

import numpy as np

from engine.dsp.mix import History
from engine.dsp.resample import make_resampler
from engine.stage import SAMPLE_RATE, HopStage

PAD = 1


class DryNode:
    """The device input itself (delay 0), always running."""

    key = "dry"
    tap = "dry"
    delay = 0.0
    valid_from = 0

    def __init__(self, history: int) -> None:
        self.history = History(history)

    def run(self, x: np.ndarray) -> None:
        """Append one block of input."""
        self.history.append(x)


class WetNode:
    """One stage fed at 16 kHz, resampled back to the device rate.

    Created mid-stream when a tap becomes needed: ``started`` is the dry
    history's sample count at creation and ``j0`` the number of 16 kHz samples
    the shared down-sampler had produced by then.
    """

    def __init__(
        self,
        key: str,
        tap: str,
        stage: HopStage,
        parent: WetNode | None,
        rate: int,
        history: int,
        quality: str,
        down_delay: float,
        started: int,
        j0: int,
    ) -> None:
        self.key, self.tap, self.stage, self.parent = key, tap, stage, parent
        self.kind = stage.name
        self.up = make_resampler(SAMPLE_RATE, rate, quality)
        self.history = History(history)
        self.history.total = started
        ratio = rate / SAMPLE_RATE
        path = stage.latency + (parent.path_latency if parent is not None else 0)
        self.path_latency = path
        prime = _prime(started, j0, ratio)
        self._fifo = np.zeros(prime, dtype=np.float32)
        self.delay = prime + started - j0 * ratio + self.up.delay + (path + down_delay) * ratio
        self.valid_from = started + int(np.ceil(self.delay)) + int(np.ceil(stage.hop * ratio))
        self.step_seconds: float | None = None  # duration of the last call that ran a step
        self.shortfalls = 0
        self._fed = 0  # 16 kHz samples fed since the reset below
        stage.reset()

    def run(self, x16: np.ndarray, n: int) -> np.ndarray:
        """Feed this block's 16 kHz input; append ``n`` device-rate samples.

        Returns the stage's 16 kHz output (the input of child nodes).
        """
        hop = self.stage.hop
        steps = (self._fed + x16.shape[0]) // hop - self._fed // hop
        self._fed += x16.shape[0]
        t0 = time.perf_counter()
        y16 = self.stage.process(x16)
        if steps:
            self.step_seconds = time.perf_counter() - t0
        fifo = np.concatenate([self._fifo, self.up.process(y16)])
        if fifo.shape[0] < n:  # cannot happen with count-exact resamplers; keep going
            self.shortfalls += 1
            fifo = np.concatenate([np.zeros(n - fifo.shape[0], np.float32), fifo])
        self.history.append(fifo[:n])
        self._fifo = fifo[n:]
        return y16


def _prime(started: int, j0: int, ratio: float) -> int:
    """Zeros that put a node's first output at a constant delay.

    The down-sampler has produced ``j0 = ceil(started / ratio)`` samples, so
    ``started - j0 * ratio`` lies in ``(-ratio, 0]``; priming with
    ``PAD - (started - j0 * ratio)`` keeps the FIFO from ever running dry.
    """
    return int(round(PAD - (started - j0 * ratio)))
