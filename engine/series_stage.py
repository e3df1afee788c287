"""Two stages in series with less latency than their sum.

Chained through their own FIFOs, a first stage of hop ``A`` and a second of
hop ``B`` add up to ``A + B`` samples of latency: the first stage spreads
each step's output evenly over its next hop, and the second waits for a
whole hop of that. But the first stage's step makes ``A`` samples at once,
so the second stage can often run as soon as its last input sample exists
rather than up to ``A`` samples later. :class:`SeriesStage` feeds the first
stage's step output straight into the second's step and delays the result
only as much as the worst phase needs. For the codec (hop 240) and the
vocoder at one frame (hop 320) that is 480 samples instead of 560 (5 ms
less); at three frames 960 instead of 1200.

The streaming contract still holds exactly (see :mod:`engine.stage`):
``stream_out[n] == offline_out[n - latency]`` for any block sizes.
"""

from __future__ import annotations

import math
import time

import numpy as np

from engine.dsp.start_gate import StartGate
from engine.stage import HopStage


class SeriesStage(HopStage):
    """``second(first(x))`` stepped directly, output delayed to a constant latency."""

    whole_path = True

    def __init__(self, first: HopStage, second: HopStage) -> None:
        if first.sample_rate != second.sample_rate:
            raise ValueError("both stages must run at the same sample rate")
        super().__init__(hop=math.gcd(first.hop, second.hop))
        self.first, self.second = first, second
        self.name = f"{first.name}+{second.name}"
        self.sample_rate = first.sample_rate
        self.prime = _priming(first.hop, second.hop, self.hop)
        self._a = np.zeros(first.hop, np.float32)
        self._b = np.zeros(second.hop, np.float32)
        size = self.prime + second.hop + self.hop
        self._q = np.zeros(size, np.float32)  # output queue (a plain array, no allocation)
        self._fa = self._fb = 0
        self._qn = self.prime
        # what the second stage makes of the first's start-up silence is not in offline()
        self._gate = StartGate(first.model_delay + second.model_delay)
        self._seconds: dict[str, float] = {}  # last step time of each part since taken

    @property
    def latency(self) -> int:
        """Own hop + the queue's priming + both models' delays."""
        return self.hop + self.prime + self.first.model_delay + self.second.model_delay

    @property
    def saved(self) -> int:
        """Samples of latency saved against the two stages chained normally."""
        return self.first.latency + self.second.latency - self.latency

    @property
    def bitrate_bps(self) -> float | None:
        """What the first stage transmits (a codec's token rate), if it says."""
        return getattr(self.first, "bitrate_bps", None)

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """``hop`` samples in, ``hop`` samples of the queue out."""
        self._a[self._fa : self._fa + self.hop] = hop_in
        self._fa += self.hop
        if self._fa == self.first.hop:
            self._fa = 0
            t0 = time.perf_counter()
            y = self.first.step(self._a)
            self._seconds["first"] = time.perf_counter() - t0
            self._feed_second(y)
        out = self._q[: self.hop].copy()
        self._q[: self._qn - self.hop] = self._q[self.hop : self._qn]
        self._qn -= self.hop
        return out

    def parts(self) -> tuple[HopStage, ...]:
        """The two stages stepped inside (each can be warmed and timed alone)."""
        return (self.first, self.second)

    def take_step_seconds(self) -> dict[str, float]:
        """Step times of the parts that stepped since the last call (``first``/``second``)."""
        out, self._seconds = self._seconds, {}
        return out

    def _feed_second(self, y: np.ndarray) -> None:
        pos = 0
        while pos < y.shape[0]:
            take = min(self.second.hop - self._fb, y.shape[0] - pos)
            self._b[self._fb : self._fb + take] = y[pos : pos + take]
            self._fb += take
            pos += take
            if self._fb == self.second.hop:
                self._fb = 0
                t0 = time.perf_counter()
                z = self.second.step(self._b)
                self._seconds["second"] = time.perf_counter() - t0
                self._q[self._qn : self._qn + z.shape[0]] = z
                self._gate(self._q[self._qn : self._qn + z.shape[0]])
                self._qn += z.shape[0]

    def reset_state(self) -> None:
        """Both stages and the queue back to the start of a stream."""
        self.first.reset()
        self.second.reset()
        self._q.fill(0.0)
        self._fa = self._fb = 0
        self._qn = self.prime
        self._gate.reset()

    def offline(self, x: np.ndarray) -> np.ndarray:
        """Whole signal: the second stage's offline form on the first's, as streamed.

        The second stage sees the first's output behind the first model's
        delay (its streamed start), so the offline form does the same and
        then removes that delay.
        """
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        d = self.first.model_delay
        mid = np.concatenate([np.zeros(d, np.float32), self.first.offline(x)])
        return self.second.offline(mid)[d : d + x.shape[0]].copy()


def _priming(a: int, b: int, hop: int) -> int:
    """Fewest zeros in the output queue so that it never runs dry.

    One period of ``lcm(a, b)`` input samples shows every phase: after each
    step of ``hop`` input samples the queue must hold ``hop`` samples.
    """
    made = worst = 0  # second-stage output so far; largest shortfall
    for n in range(hop, math.lcm(a, b, hop) + 1, hop):
        if n % a == 0:  # the first stage stepped: it has made n samples
            made = (n // b) * b
        worst = max(worst, n - made)
    return worst
