"""A seeded network impairment simulator for the sending side: loss, bursts, jitter, reorder, dups.

For each packet handed to :meth:`Impairment.schedule` at its send time ``t``
it decides, from its own ``numpy`` generator, whether the packet is lost and
when each copy that survives is delivered:

- Loss: ``loss`` is the long-run fraction lost. With ``burst`` (mean burst
  length, in packets) at most 1 each packet is lost independently; above 1
  a two-state (Gilbert) model: in the bad state every packet is lost, the
  chance to leave it is ``1 / burst`` per packet, and the chance to enter it
  is set so that the bad state holds ``loss`` of the time.
- Jitter: every surviving copy is held an extra time drawn uniformly in
  ``[0, jitter_s]`` (a spread of ``jitter_s``; copies overtake one another
  when it exceeds the packet interval).
- Reorder: a packet is, with chance ``reorder``, held back a further 1 to 3
  packet intervals, so that later ones overtake it.
- Duplication: with chance ``duplicate`` a second copy is sent, with its
  own jitter.

The same seed and the same calls give the same decisions, whatever the
timing of the calls, so a test can replay a sender's losses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ImpairmentConfig:
    """Impairment settings (fractions in [0, 1], times in seconds); invalid ones raise."""

    loss: float = 0.0
    burst: float = 1.0
    jitter_s: float = 0.0
    reorder: float = 0.0
    duplicate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction in 0..1 (0..100 %), got {value}")
        if self.loss >= 1.0:
            raise ValueError("loss must be below 100 %")
        if not 1.0 <= self.burst <= 1000.0:
            raise ValueError(f"the mean burst length must be 1..1000 packets, got {self.burst}")
        if not 0.0 <= self.jitter_s <= 10.0:
            raise ValueError(f"jitter must be 0..10 s, got {self.jitter_s}")

    @property
    def active(self) -> bool:
        """Whether anything is impaired at all."""
        return bool(self.loss or self.jitter_s or self.reorder or self.duplicate)


@dataclass
class ImpairmentStats:
    """What the simulator did."""

    packets: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    lost_indices: list[int] = field(default_factory=list)


class Impairment:
    """Turns one send into zero, one or two deliveries ``(time, copy number)``."""

    def __init__(self, config: ImpairmentConfig, interval_s: float) -> None:
        self.config = config
        self.interval_s = interval_s
        self.stats = ImpairmentStats()
        self._rng = np.random.default_rng(config.seed)
        self._bad = False
        if config.burst > 1.0 and config.loss > 0.0:
            self._leave_bad = 1.0 / config.burst
            self._enter_bad = min(1.0, config.loss * self._leave_bad / (1.0 - config.loss))
        else:
            self._leave_bad = self._enter_bad = 0.0

    def _lost(self) -> bool:
        c = self.config
        if c.burst <= 1.0:
            return bool(self._rng.random() < c.loss)
        u = self._rng.random()
        self._bad = u >= self._leave_bad if self._bad else u < self._enter_bad
        return self._bad

    def _delay(self, reorder: bool) -> float:
        delay = self._rng.random() * self.config.jitter_s
        if reorder:
            delay += self.interval_s * int(self._rng.integers(1, 4))
        return delay

    def schedule(self, send_time: float) -> list[float]:
        """The delivery times of the copies of the packet sent at ``send_time`` (maybe none).

        Every packet draws the same random numbers whether it is lost or not,
        so the decisions for packet ``i`` depend only on the seed and ``i``.
        """
        index = self.stats.packets
        self.stats.packets += 1
        lost = self._lost()
        reorder = bool(self._rng.random() < self.config.reorder)
        duplicate = bool(self._rng.random() < self.config.duplicate)
        delays = [self._delay(reorder), self._delay(False)]
        if lost:
            self.stats.lost += 1
            self.stats.lost_indices.append(index)
            return []
        self.stats.reordered += reorder
        if duplicate:
            self.stats.duplicated += 1
            return [send_time + delays[0], send_time + delays[1]]
        return [send_time + delays[0]]


def lost_indices(config: ImpairmentConfig, interval_s: float, packets: int) -> list[int]:
    """Which of ``packets`` packets a simulator with ``config`` loses (replays its seed)."""
    sim = Impairment(config, interval_s)
    for i in range(packets):
        sim.schedule(i * interval_s)
    return sim.stats.lost_indices
