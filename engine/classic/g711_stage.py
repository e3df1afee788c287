"""G.711 μ-law / A-law as streaming stages (reference codecs for A/B).

Narrowband (the default) is G.711 proper: 16 kHz -> low-pass and decimate to
8 kHz -> 8-bit companding -> back to 16 kHz, 64 kbit/s. Wideband companding
(``narrowband=False``) codes every 16 kHz sample, 128 kbit/s, and isolates
the quantisation noise from the band limit.

Companding is memoryless, so the only state is the FIR history of the
resampler (:mod:`engine.classic.narrowband`). With ``r`` the causal round trip
(``r[n] ~ x[n - ROUND_TRIP_DELAY]``), step ``k`` returns ``r`` for samples
``k*hop .. k*hop + hop - 1``; the offline form is ``r`` computed on the whole
signal, advanced by ``ROUND_TRIP_DELAY`` so that it is aligned with the input.
The first ``ROUND_TRIP_DELAY`` causal samples (the pre-ringing of the
linear-phase filters before the stream's first sample) have no place in that
aligned form, so the stream mutes them (:class:`StartGate`); after that,
stream and offline agree sample for sample.
Latency: ``hop + ROUND_TRIP_DELAY`` (80 + 96 samples, 11 ms) narrowband,
``hop`` (5 ms) wideband.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.classic import g711, narrowband
from engine.dsp.start_gate import StartGate
from engine.stage import HopStage

DEFAULT_HOP = 80  # 5 ms at 16 kHz: 40 G.711 bytes per hop

_LAWS: dict[str, tuple[Callable, Callable]] = {
    "mulaw": (g711.mulaw_encode, g711.mulaw_decode),
    "alaw": (g711.alaw_encode, g711.alaw_decode),
}


class G711Stage(HopStage):
    """G.711 encode -> 8-bit codes -> decode, narrowband (8 kHz) or per 16 kHz sample."""

    def __init__(self, law: str, narrowband_8k: bool = True, hop: int = DEFAULT_HOP) -> None:
        if law not in _LAWS:
            raise ValueError(f"unknown G.711 law '{law}'; choose mulaw or alaw")
        if narrowband_8k and hop % 2:
            raise ValueError(f"narrowband G.711 needs an even hop, got {hop}")
        super().__init__(hop)
        self.law = law
        self.narrowband = narrowband_8k
        self._encode, self._decode = _LAWS[law]
        self.model_delay = narrowband.ROUND_TRIP_DELAY if narrowband_8k else 0
        self.name = law if narrowband_8k else f"{law}@128"
        self._down = narrowband.CausalFir()
        self._up = narrowband.CausalFir()
        self._gate = StartGate(self.model_delay)

    @property
    def bitrate_bps(self) -> int:
        """8 bits per coded sample: 64 kbit/s at 8 kHz, 128 kbit/s at 16 kHz."""
        return 8 * (self.sample_rate // 2 if self.narrowband else self.sample_rate)

    def codec(self, x: np.ndarray) -> np.ndarray:
        """Companding round trip at the coded rate: ``(n,)`` -> ``(n,)`` float32."""
        return self._decode(self._encode(x))

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """Code one hop; narrowband goes through the causal resampler filters."""
        if not self.narrowband:
            return self.codec(hop_in)
        coded = self.codec(narrowband.decimate_phase0(self._down(hop_in)))
        return self._gate(self._up(narrowband.zero_stuff(coded)).astype(np.float32))

    def reset_state(self) -> None:
        """Clear the resampler histories (companding itself has no state)."""
        self._down.reset()
        self._up.reset()
        self._gate.reset()

    def offline(self, x: np.ndarray) -> np.ndarray:
        """Whole-signal round trip aligned with ``x`` (see the module docstring)."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        n = x.shape[0]
        if not self.narrowband:
            return self.codec(x)
        delay = self.model_delay
        total = n + delay + (n + delay) % 2
        hist = np.zeros(narrowband.TAPS - 1, np.float64)
        xp = np.concatenate([hist, x, np.zeros(total - n)])
        coded = self.codec(narrowband.decimate_phase0(narrowband.fir(xp)))
        r = narrowband.fir(np.concatenate([hist, narrowband.zero_stuff(coded)]))
        return r[delay : delay + n].astype(np.float32)


class MuLawStage(G711Stage):
    """G.711 μ-law (North America, Japan)."""

    def __init__(self, narrowband_8k: bool = True, hop: int = DEFAULT_HOP) -> None:
        super().__init__("mulaw", narrowband_8k, hop)


class ALawStage(G711Stage):
    """G.711 A-law (Europe and most of the world)."""

    def __init__(self, narrowband_8k: bool = True, hop: int = DEFAULT_HOP) -> None:
        super().__init__("alaw", narrowband_8k, hop)
