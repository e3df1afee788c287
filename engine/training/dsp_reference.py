r"""DSP reference vocoders from the 80-band mel: the floor a trained vocoder must beat.

    python -m engine.training.dsp_reference \
        --split engine/training/configs/split_seed0.json [--n 16] [--corpus librispeech]

Takes the held-out utterances exactly as :mod:`engine.training.quick_eval`
does (first ``--max-seconds`` of each), computes the mel the vocoder sees
(:class:`~engine.dsp.mel.CausalLogMel`, 80 Slaney bands) for the seed
geometry (n_fft 1024 / hop 320) and the short-frame one (512 / 128), maps it
back to a magnitude with the pseudo-inverse of the filterbank, and gives it a
phase five ways: the signal's own (oracle), RTPGHI (:mod:`engine.dsp.pghi`:
causal, no look-ahead, streams), 32 and 64 fast Griffin-Lim iterations
(offline) and zero. It prints a markdown table of mean PESQ-WB / STOI and
the cross-correlation lag of each output against its input (0 = aligned).

Synthesis is the least-squares overlap-add of the same causal framing. The
signal is followed by ``n_fft - hop`` zeros (a stream's flush) and the output
cut to the input's length: the offline form of a stream, latency removed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from engine.dsp.metrics import pesq_wb, stoi
from engine.dsp.pghi import causal_istft, causal_stft, rtpghi
from engine.training.data import DEFAULT_DATA_DIR, SAMPLE_RATE, read_audio
from engine.training.quick_eval import pick_utterances

GEOMETRIES = ((1024, 320), (512, 128))
N_MELS = 80
MAG_FLOOR = 1e-5  # as the amplitude prior (engine.dsp.mel_prior.PRIOR_FLOOR)
MAX_LAG = 400
ENVELOPE_SAMPLES = 80  # 5 ms

METHODS = (
    ("pinv + true phase (oracle)", "offline"),
    ("pinv + RTPGHI", "streaming, causal"),
    ("pinv + Griffin-Lim 32", "offline"),
    ("pinv + Griffin-Lim 64", "offline"),
    ("pinv + zero phase", "streaming"),
)


def flush_samples(n_fft: int, hop: int) -> int:
    """Zeros after the signal so its last sample is covered by every frame it should be."""
    return math.ceil((n_fft - hop) / hop) * hop


def pad_for_stream(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``x`` followed by zeros up to a whole hop, then the flush."""
    tail = -len(x) % hop + flush_samples(n_fft, hop)
    return np.concatenate((x, np.zeros(tail, dtype=x.dtype)))


def mel_pinv_magnitude(padded: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Time-major ``(T, n_bins)``: the filterbank's pinv applied to the mel the vocoder sees."""
    import torch

    from engine.dsp.mel import CausalLogMel, slaney_mel_filterbank

    front = CausalLogMel(SAMPLE_RATE, n_fft, hop, N_MELS)
    with torch.no_grad():
        log_mel = front(torch.from_numpy(padded.astype(np.float32))[None])[0].numpy()
    pinv = np.linalg.pinv(slaney_mel_filterbank(SAMPLE_RATE, n_fft, N_MELS).astype(np.float64))
    return np.maximum(np.exp(log_mel.T.astype(np.float64)) @ pinv.T, MAG_FLOOR)


def griffin_lim(
    mag: np.ndarray, n_fft: int, hop: int, n_iter: int, momentum: float = 0.99, seed: int = 0
) -> np.ndarray:
    """Fast Griffin-Lim (librosa's default momentum, random start) on the causal framing.

    Our own framing rather than librosa's centred one, so the output is
    aligned with the input by construction.
    """
    rng = np.random.default_rng(seed)
    angles = np.exp(2j * np.pi * rng.random(mag.shape))
    rebuilt = np.zeros_like(angles)
    for _ in range(n_iter):
        previous = rebuilt
        rebuilt = causal_stft(causal_istft(mag * angles, n_fft, hop), n_fft, hop)
        angles = rebuilt - (momentum / (1.0 + momentum)) * previous
        angles /= np.abs(angles) + 1e-16
    return np.angle(angles)


def phases(
    padded: np.ndarray, mag: np.ndarray, n_fft: int, hop: int
) -> dict[str, tuple[np.ndarray, float]]:
    """Each method's phase ``(T, n_bins)`` and the seconds it took."""
    makers: dict[str, Callable[[], np.ndarray]] = {
        METHODS[0][0]: lambda: np.angle(causal_stft(padded, n_fft, hop)),
        METHODS[1][0]: lambda: rtpghi(mag, n_fft, hop),
        METHODS[2][0]: lambda: griffin_lim(mag, n_fft, hop, 32),
        METHODS[3][0]: lambda: griffin_lim(mag, n_fft, hop, 64),
        METHODS[4][0]: lambda: np.zeros_like(mag),
    }
    out = {}
    for name, make in makers.items():
        start = time.perf_counter()
        phase = make()
        out[name] = (phase, time.perf_counter() - start)
    return out


class Score(NamedTuple):
    """One method on one utterance."""

    pesq: float
    stoi: float
    wave_lag: int  # cross-correlation of the waveforms: exact only where the phase is the signal's
    envelope_lag: int  # of the 5 ms energy envelopes: where a phase reconstruction puts the sound
    seconds: float  # making the phase


def xcorr_lag(x: np.ndarray, y: np.ndarray, max_lag: int = MAX_LAG) -> int:
    """Lag (samples, positive = ``y`` late) of the cross-correlation peak within ``max_lag``."""
    n = min(len(x), len(y))
    full = np.correlate(y[:n], x[max_lag : n - max_lag], mode="valid")  # lags -max_lag..max_lag
    return int(np.argmax(full)) - max_lag


def energy_envelope(x: np.ndarray, width: int = ENVELOPE_SAMPLES) -> np.ndarray:
    """Mean-removed moving average of ``x**2``: timing that does not depend on the phase."""
    env = np.convolve(x**2, np.ones(width) / width, mode="same")
    return env - env.mean()


def evaluate_utterance(x: np.ndarray, n_fft: int, hop: int) -> dict[str, Score]:
    """Every method's score on one utterance."""
    padded = pad_for_stream(x.astype(np.float64), n_fft, hop)
    mag = mel_pinv_magnitude(padded, n_fft, hop)
    x_env = energy_envelope(x.astype(np.float64))
    results = {}
    for name, (phase, seconds) in phases(padded, mag, n_fft, hop).items():
        y = causal_istft(mag * np.exp(1j * phase), n_fft, hop)[: len(x)]
        lags = xcorr_lag(x, y), xcorr_lag(x_env, energy_envelope(y))
        results[name] = Score(pesq_wb(x, y), stoi(x, y), *lags, seconds)
    return results


def lag_text(lags: list[int]) -> str:
    """Median lag and, if they differ, the range over utterances."""
    lo, hi, mid = min(lags), max(lags), int(np.median(lags))
    return f"{mid}" if lo == hi else f"{mid} ({lo}..{hi})"


def table(scores: dict[tuple[int, int], dict[str, list[Score]]]) -> list[str]:
    """Markdown rows: geometry, method, kind, PESQ-WB, STOI, the two lags."""
    lines = [
        "| geometry | magnitude + phase | kind | PESQ-WB | STOI | waveform lag | envelope lag |",
        "|---|---|---|---|---|---|---|",
    ]
    for (n_fft, hop), per_method in scores.items():
        for name, kind in METHODS:
            rows = per_method[name]
            p = np.nanmean([r.pesq for r in rows])
            s = np.nanmean([r.stoi for r in rows])
            wave = lag_text([r.wave_lag for r in rows])
            env = lag_text([r.envelope_lag for r in rows])
            cells = (f"n_fft {n_fft} / hop {hop}", name, kind, f"{p:.2f}", f"{s:.3f}", wave, env)
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def speed_line(geometry: tuple[int, int], rows: list[Score], seconds: float) -> str:
    """RTPGHI's time per utterance against real time, and the latency it implies."""
    n_fft, hop = geometry
    spent = sum(r.seconds for r in rows)
    window_ms = 1000 * n_fft / SAMPLE_RATE
    return (
        f"RTPGHI n_fft {n_fft} / hop {hop}: {1000 * spent / len(rows):.0f} ms per utterance, "
        f"{spent / seconds:.3f} x real time (phase only, numpy, one core); no look-ahead; "
        f"latency with overlap-add: one window, {n_fft} samples ({window_ms:.0f} ms)"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: prints the table and RTPGHI's speed."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--corpus", default="librispeech")
    p.add_argument("--max-seconds", type=float, default=8.0)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    names = pick_utterances(args.split, args.n, args.corpus or None)
    cut = int(args.max_seconds * SAMPLE_RATE)
    signals = [read_audio(args.data_dir / n).astype(np.float32)[:cut] / 32768.0 for n in names]
    scores: dict[tuple[int, int], dict[str, list[Score]]] = {}
    for geometry in GEOMETRIES:
        scores[geometry] = {name: [] for name, _ in METHODS}
        for x in signals:
            for name, result in evaluate_utterance(x, *geometry).items():
                scores[geometry][name].append(result)
    seconds = sum(len(x) for x in signals) / SAMPLE_RATE
    corpus = args.corpus or "all corpora"
    print(f"{len(names)} held-out utterances ({corpus}), {seconds:.1f} s in all: {names}")
    print("\n".join(table(scores)))
    print()
    for geometry, per_method in scores.items():
        print(speed_line(geometry, per_method[METHODS[1][0]], seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
