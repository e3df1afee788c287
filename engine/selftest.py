"""Checks behind ``streamvox self-test``: an installed copy works, no audio hardware needed.

Each check returns a :class:`CheckResult` instead of raising, so that one
broken piece (a corrupt weights file, a missing libopus) is reported next to
everything that still works. The checks:

* the codec and vocoder weights load (bundled by default), with their
  architecture and training steps;
* a short generated signal streams through each chain, block by block as
  live: the output is finite, as long as the input, and equals the chain's
  offline form once the *declared* latency is removed (a wrong latency would
  misalign the two);
* any check a front end adds (``streamvox`` adds that the GUI can be
  created, in a child process); this module knows no front end.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import resources
from engine.chain import (
    DEFAULT_PRECISION,
    Chain,
    build_stages,
    load_codec_model,
    load_vocoder_model,
)
from engine.stage import DEFAULT_CHUNK, SAMPLE_RATE

CHAINS = ("dry", "codec", "vocoder", "codec+vocoder", "opus", "mulaw", "pghi")
SIGNAL_SECONDS = 0.6
BLOCK = 160  # not a multiple of any stage's hop: the FIFOs are exercised
MAX_OFFLINE_DIFF = 1e-4  # streamed vs offline, same inference path (float rounding only)


@dataclass(frozen=True)
class CheckResult:
    """One line of the report."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        """``OK   name: detail`` or ``FAIL name: detail``."""
        return f"{'OK  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def voice_like_signal(seconds: float = SIGNAL_SECONDS) -> np.ndarray:
    """A voice-like test signal, ``(L,)`` float32 at 16 kHz: harmonics, vibrato, a little noise."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 140.0 * (1.0 + 0.05 * np.sin(2 * np.pi * 5.0 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 - np.cos(2 * np.pi * np.minimum(t / 0.05, 0.5)))  # 25 ms fade-in
    noise = np.random.default_rng(0).standard_normal(t.shape)
    return (0.15 * envelope * voiced + 0.005 * noise).astype(np.float32)


def _guarded(name: str, check: Callable[[], str]) -> CheckResult:
    """Run ``check``; its return value is the detail, any exception a FAIL naming it."""
    try:
        return CheckResult(name, True, check())
    except Exception as exc:  # noqa: BLE001 - every failure becomes one report line
        return CheckResult(name, False, f"{type(exc).__name__}: {exc}")


# -- models -----------------------------------------------------------------------------------


def training_steps(path: Path) -> int | None:
    """Training steps recorded in a streamvox ``.safetensors`` file's metadata, if any."""
    from engine.models.weights import read_info

    info = read_info(path)
    return None if info is None else info.steps


def _file_label(path: Path) -> str:
    size = f"{path.stat().st_size / 1e6:.1f} MB" if path.is_file() else "?"
    return f"{path} ({size})"


def _steps_label(path: Path) -> str:
    steps = training_steps(path)
    return "training steps not recorded" if steps is None else f"{steps} training steps"


def check_codec_model(weights: Path | None) -> CheckResult:
    """Load the codec weights and describe them."""

    def check() -> str:
        path = weights or resources.DEFAULT_CODEC_WEIGHTS
        c = load_codec_model(weights).config
        arch = (
            f"enc_base {c.enc_base}, latent {c.latent_dim}, strides {list(c.strides)}, "
            f"{c.n_codebooks}x{c.codebook_size} codebooks, {c.n_transformer} transformer blocks "
            f"of {c.d_model}, window {c.window}/hop {c.hop}"
        )
        return f"{_file_label(path)}: {arch}; {_steps_label(path)}"

    return _guarded("codec model", check)


def check_vocoder_model(weights: Path | None) -> CheckResult:
    """Load the vocoder weights and describe them."""

    def check() -> str:
        path = weights or resources.DEFAULT_VOCODER_WEIGHTS
        c = load_vocoder_model(weights).config
        arch = (
            f"dim {c.dim}, {c.n_layers} ConvNeXt layers ({c.intermediate_dim}), "
            f"{c.n_mels} mels, n_fft {c.n_fft}/hop {c.hop}, {c.sample_rate} Hz"
        )
        return f"{_file_label(path)}: {arch}; {_steps_label(path)}"

    return _guarded("vocoder model", check)


# -- chains -----------------------------------------------------------------------------------


def check_chain(
    chain: str,
    codec_weights: Path | None = None,
    vocoder_weights: Path | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> CheckResult:
    """Stream :func:`voice_like_signal` through ``chain`` and compare with its offline form."""

    def check() -> str:
        x = voice_like_signal()
        c = Chain(build_stages(chain, chunk, codec_weights, vocoder_weights, DEFAULT_PRECISION))
        t0 = time.perf_counter()
        y = c.run_aligned(x, BLOCK)
        elapsed = time.perf_counter() - t0
        if y.shape != x.shape:
            raise ValueError(f"output has {y.shape[0]} samples for {x.shape[0]} in")
        if not np.isfinite(y).all():
            raise ValueError(f"{int(np.sum(~np.isfinite(y)))} output samples are NaN or Inf")
        c.reset()
        diff = float(np.max(np.abs(y - c.offline(x))))
        if diff > MAX_OFFLINE_DIFF:
            raise ValueError(
                f"streamed output differs from the offline form by {diff:.2g} (> "
                f"{MAX_OFFLINE_DIFF:g}) at the declared latency of {c.latency} samples"
            )
        if c.stages and not np.any(y):
            raise ValueError("the output is silent")
        rms_db = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) + 1e-20)
        return (
            f"{len(x)} samples in {elapsed * 1000:.0f} ms, latency {c.latency} samples "
            f"({1000 * c.latency / SAMPLE_RATE:.1f} ms) as declared (max diff to offline "
            f"{diff:.1g}), output {rms_db:.1f} dB RMS, all finite"
        )

    return _guarded(f"chain {chain}", check)


# -- all --------------------------------------------------------------------------------------


def run_checks(
    codec_weights: Path | None = None,
    vocoder_weights: Path | None = None,
    extra: Sequence[Callable[[], CheckResult]] = (),
    report: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Every check in order, ``extra`` last; ``report`` sees each result as soon as it is known."""
    results: list[CheckResult] = []

    def add(result: CheckResult) -> None:
        results.append(result)
        if report is not None:
            report(result)

    codec = check_codec_model(codec_weights)
    vocoder = check_vocoder_model(vocoder_weights)
    add(codec)
    add(vocoder)
    for chain in CHAINS:
        broken = [m.name for m in (codec, vocoder) if not m.ok and m.name.split()[0] in chain]
        if broken:
            add(CheckResult(f"chain {chain}", False, f"not run: the {broken[0]} did not load"))
        else:
            add(check_chain(chain, codec_weights, vocoder_weights))
    for check in extra:
        add(check())
    return results


def environment_summary() -> str:
    """One line saying what is being tested (frozen or not, where from)."""
    frozen = "frozen app" if getattr(sys, "frozen", False) else f"Python {sys.version.split()[0]}"
    return f"streamvox self-test ({frozen}, {Path(sys.executable)}, pid {os.getpid()})"
