"""Seeded data augmentation: speed/pitch perturbation, gain, additive noise.

Both models are trained to reproduce their (augmented) input, so
augmentation here widens the input distribution (levels, voices, rooms and
microphone noise floors a live mic produces) rather than defining a
denoising task: the target is always the augmented signal itself.

Speed perturbation resamples by a factor ``f`` (``f > 1`` is faster and
higher), which shifts pitch and formants together, like the classic Kaldi
recipe. It is done on a crop with margin so the resampler's edge transients
fall outside the kept part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr

from engine.training.data import SAMPLE_RATE, AudioBank


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation (defaults tuned for speech)."""

    p_speed: float = 0.5
    max_speed: float = 0.05  # factor drawn in [1 - max_speed, 1 + max_speed]
    p_gain: float = 1.0
    gain_db: tuple[float, float] = (-18.0, 6.0)
    p_noise: float = 0.3
    snr_db: tuple[float, float] = (10.0, 40.0)
    p_white: float = 0.2  # a faint broadband noise floor, like a cheap mic
    white_snr_db: tuple[float, float] = (30.0, 60.0)
    peak_limit: float = 0.99

    def __post_init__(self) -> None:
        for name in ("p_speed", "p_gain", "p_noise", "p_white"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.max_speed < 0.5:
            raise ValueError(f"max_speed must be in [0, 0.5), got {self.max_speed}")
        if not 0.0 < self.peak_limit <= 1.0:
            raise ValueError(f"peak_limit must be in (0, 1], got {self.peak_limit}")


NO_AUGMENT = AugmentConfig(p_speed=0.0, p_gain=0.0, p_noise=0.0, p_white=0.0)


def speed_perturb(x: np.ndarray, factor: float, length: int) -> np.ndarray:
    """Play ``x`` ``factor`` times faster and keep the centre ``length`` samples.

    ``x``: float32 ``(L,)`` with ``L / factor >= length``.
    """
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    y = soxr.resample(x.astype(np.float32), SAMPLE_RATE * factor, SAMPLE_RATE, quality="HQ")
    if len(y) < length:
        raise ValueError(f"input too short for speed {factor}: {len(x)} -> {len(y)} < {length}")
    start = (len(y) - length) // 2
    return np.ascontiguousarray(y[start : start + length], dtype=np.float32)


def _power(x: np.ndarray) -> float:
    return float(np.mean(x.astype(np.float64) ** 2))


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float, floor: float = 1e-5) -> np.ndarray:
    """Add ``noise`` to ``x`` at ``snr_db`` relative to the power of ``x``.

    ``floor`` (power, about -50 dBFS) keeps silent crops from getting no noise
    at all or a division by zero.
    """
    p_sig = max(_power(x), floor)
    p_noise = max(_power(noise), 1e-12)
    scale = np.sqrt(p_sig / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (x + scale * noise).astype(np.float32)


class Augmenter:
    """Draws augmented crops from an :class:`AudioBank`; seeded, reproducible."""

    def __init__(
        self,
        speech: AudioBank,
        noise: AudioBank | None = None,
        config: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.speech = speech
        self.noise = noise
        self.config = config or AugmentConfig()
        self.rng = np.random.default_rng(seed)

    def crop(self, length: int) -> np.ndarray:
        """One augmented float32 crop ``(length,)``."""
        cfg, rng = self.config, self.rng
        if cfg.p_speed > 0 and rng.random() < cfg.p_speed:
            factor = float(rng.uniform(1 - cfg.max_speed, 1 + cfg.max_speed))
            margin = 64
            raw = self.speech.crop(rng, int(np.ceil(length * factor)) + 2 * margin)
            x = speed_perturb(raw, factor, length)
        else:
            x = self.speech.crop(rng, length)
        if cfg.p_gain > 0 and rng.random() < cfg.p_gain:
            x = x * np.float32(10.0 ** (rng.uniform(*cfg.gain_db) / 20.0))
        if self.noise is not None and rng.random() < cfg.p_noise:
            x = add_noise(x, self.noise.crop(rng, length), float(rng.uniform(*cfg.snr_db)))
        if rng.random() < cfg.p_white:
            white = rng.standard_normal(length).astype(np.float32)
            x = add_noise(x, white, float(rng.uniform(*cfg.white_snr_db)))
        peak = float(np.max(np.abs(x))) if len(x) else 0.0
        if peak > cfg.peak_limit:
            x = x * np.float32(cfg.peak_limit / peak)
        return x.astype(np.float32)

    def batch(self, n: int, length: int) -> np.ndarray:
        """``n`` augmented crops, float32 ``(n, length)``."""
        return np.stack([self.crop(length) for _ in range(n)])

    def state(self) -> dict:
        """RNG state, for resumable training."""
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        """Restore the RNG state saved by :meth:`state`."""
        self.rng.bit_generator.state = state
