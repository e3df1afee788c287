"""Click-free mixing blocks for the live path: delay history, crossfade, gain, limiter.

All of them work block by block on mono float32 at the device rate and keep
their state between blocks, so a change is spread over samples instead of
landing as a step (a step is a click).
"""

from __future__ import annotations

import math

import numpy as np


def db_to_gain(db: float) -> float:
    """Linear gain of ``db`` decibels."""
    return float(10.0 ** (db / 20.0))


def gain_to_db(gain: float, floor: float = -120.0) -> float:
    """Decibels of a linear amplitude (``floor`` for silence)."""
    return max(floor, 20.0 * math.log10(gain)) if gain > 0 else floor


class History:
    """The last ``capacity`` samples of a signal, readable at any delay.

    A delay line that can serve several delays at once: the dry tap is read
    at the wet path's latency, and a latency change (new chunk size) is just
    another read position, available at once.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self._buf = np.zeros(self.capacity, dtype=np.float32)
        self.total = 0  # samples ever appended

    def append(self, x: np.ndarray) -> None:
        """Add ``(n,)`` samples (``n <= capacity``)."""
        n = x.shape[0]
        if n > self.capacity:
            raise ValueError(f"block of {n} exceeds history capacity {self.capacity}")
        pos = self.total % self.capacity
        first = min(n, self.capacity - pos)
        self._buf[pos : pos + first] = x[:first]
        self._buf[: n - first] = x[first:]
        self.total += n

    def read(self, n: int, delay: int, out: np.ndarray | None = None) -> np.ndarray:
        """The ``n`` samples that ended ``delay`` samples ago (zeros before the start)."""
        if delay < 0 or delay + n > self.capacity:
            raise ValueError(f"delay {delay} + {n} outside history capacity {self.capacity}")
        out = np.empty(n, dtype=np.float32) if out is None else out
        start = self.total - delay - n
        lead = min(n, max(0, -start))  # before the first sample: silence
        out[:lead] = 0.0
        if lead < n:
            pos = (start + lead) % self.capacity
            count = n - lead
            first = min(count, self.capacity - pos)
            out[lead : lead + first] = self._buf[pos : pos + first]
            out[lead + first :] = self._buf[: count - first]
        return out


class Crossfade:
    """Equal-power fade (``cos`` out, ``sin`` in) over ``length`` samples."""

    def __init__(self, length: int) -> None:
        if length <= 0:
            raise ValueError(f"crossfade length must be positive, got {length}")
        self.length = int(length)
        self.pos = self.length  # idle

    @property
    def active(self) -> bool:
        """True while a fade is under way."""
        return self.pos < self.length

    def start(self) -> None:
        """Begin a fade at the next sample."""
        self.pos = 0

    def mix(self, old: np.ndarray, new: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out = old * cos + new * sin`` for this block; ``new`` once done."""
        n = out.shape[0]
        if not self.active:
            out[:] = new
            return out
        t = np.minimum((self.pos + np.arange(1, n + 1)) / self.length, 1.0) * (np.pi / 2)
        out[:] = old * np.cos(t) + new * np.sin(t)
        self.pos = min(self.length, self.pos + n)
        return out


class GainRamp:
    """A gain that moves linearly to a new target over ``ramp`` samples."""

    def __init__(self, ramp: int, gain: float = 1.0) -> None:
        if ramp <= 0:
            raise ValueError(f"ramp must be positive, got {ramp}")
        self.ramp = int(ramp)
        self.gain = float(gain)
        self.target = float(gain)
        self._step = 0.0

    def set(self, target: float) -> None:
        """Aim at ``target`` (linear); reached after ``ramp`` samples."""
        self.target = float(target)
        self._step = (self.target - self.gain) / self.ramp

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Multiply ``x`` in place by the (ramping) gain."""
        n = x.shape[0]
        if self.gain == self.target:
            if self.gain != 1.0:
                x *= self.gain
            return x
        g = self.gain + self._step * np.arange(1, n + 1)
        g = np.minimum(g, self.target) if self._step > 0 else np.maximum(g, self.target)
        x *= g.astype(np.float32)
        self.gain = float(g[-1])
        return x


class Limiter:
    """Safety limiter: no output sample beyond ``ceiling``, without clicks.

    No look-ahead (it would add latency): the gain follows the block peak,
    moving linearly from the previous block's value (attack within one
    block, exponential release), and a soft clipper above ``knee * ceiling``
    (continuous, ``tanh``-shaped, strictly below ``ceiling``) catches what
    the gain did not. Non-finite samples become 0.
    """

    def __init__(
        self, ceiling: float, rate: int, release_ms: float = 150.0, knee: float = 0.85
    ) -> None:
        if not 0.0 < ceiling <= 1.0:
            raise ValueError(f"ceiling must be in (0, 1], got {ceiling}")
        if not 0.0 < knee < 1.0:
            raise ValueError(f"knee must be in (0, 1), got {knee}")
        self.ceiling = float(ceiling)
        self.knee = float(knee)
        self.release = release_ms * 1e-3 * rate
        self.gain = 1.0
        self.reduction_db = 0.0

    def process(self, x: np.ndarray) -> np.ndarray:
        """Limit ``(n,)`` samples in place; return them."""
        n = x.shape[0]
        if n == 0:
            return x
        np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(np.max(np.abs(x)))
        threshold = self.knee * self.ceiling
        target = min(1.0, threshold / peak) if peak > 0 else 1.0
        if target < self.gain:
            new = target
        else:
            new = min(target, 1.0 - (1.0 - self.gain) * math.exp(-n / self.release))
        if new != 1.0 or self.gain != 1.0:
            x *= np.linspace(self.gain, new, n + 1, dtype=np.float32)[1:]
        self.gain = new
        self.reduction_db = -gain_to_db(new)
        self._soft_clip(x, threshold)
        return x

    def _soft_clip(self, x: np.ndarray, threshold: float) -> None:
        mag = np.abs(x)
        over = mag > threshold
        if not over.any():
            return
        room = self.ceiling - threshold
        soft = threshold + room * np.tanh((mag[over] - threshold) / room)
        x[over] = np.copysign(np.minimum(soft, self.ceiling), x[over])


class LevelTracker:
    """Slow mean-square level (time constant ``tau`` seconds) for loudness matching."""

    def __init__(self, rate: int, tau: float = 2.0) -> None:
        self.rate = rate
        self.tau = tau
        self.mean_square = 0.0

    def update(self, x: np.ndarray) -> None:
        """Fold in one block."""
        if x.shape[0] == 0:
            return
        a = math.exp(-x.shape[0] / (self.tau * self.rate))
        self.mean_square = a * self.mean_square + (1 - a) * float(np.mean(x * x))


def match_gain(reference: LevelTracker, source: LevelTracker, limit_db: float = 12.0) -> float:
    """Gain that brings ``source`` to ``reference`` loudness, within +-``limit_db``."""
    floor = 1e-8  # ~ -80 dBFS: do not chase silence
    if source.mean_square < floor or reference.mean_square < floor:
        return 1.0
    g = math.sqrt(reference.mean_square / source.mean_square)
    lim = db_to_gain(limit_db)
    return min(lim, max(1.0 / lim, g))
