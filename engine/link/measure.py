"""Quality over a lossy link: PESQ-WB and STOI per chain, loss rate and concealment.

Each file goes through :func:`engine.link.simulate.simulate_link` (what
``streamvox link send`` and ``receive`` run, on a simulated clock); the
re-aligned output is scored against the 16 kHz input. The same seed loses
the same packet numbers in every chain (20 ms Opus frames and 15 ms codec
hops differ, so not the same milliseconds of speech).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.link.impairment import ImpairmentConfig


@dataclass(frozen=True)
class Condition:
    """One row: a chain (``codec`` or ``opus``), a concealment, an impairment."""

    chain: str
    conceal: str
    loss: float
    jitter_s: float = 0.0
    burst: float = 1.0


@dataclass
class Row:
    """Scores of one condition over the files (means and 95% half-widths)."""

    condition: Condition
    pesq: tuple[float, float]
    stoi: tuple[float, float]
    lost_pct: float
    late_pct: float
    delay_ms: float


def measure(
    files: Sequence[Path],
    conditions: Sequence[Condition],
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    codec_weights=None,
    opus_bps: int | None = None,
) -> list[Row]:
    """Score every condition on every file (see the module docstring)."""
    from engine.audiofile import read_mono_16k
    from engine.dsp.metrics import mean_ci95, pesq_wb, stoi
    from engine.link.endpoints import make_decoder, make_encoder
    from engine.link.simulate import simulate_link

    signals = [read_mono_16k(f).samples for f in files]
    rows = []
    ends: dict[tuple[str, str], tuple] = {}
    for cond in conditions:
        key = (cond.chain, cond.conceal)
        if key not in ends:
            enc = make_encoder(cond.chain, codec_weights, opus_bps=opus_bps)
            dec = make_decoder(cond.chain, codec_weights, strategy=cond.conceal, opus_bps=opus_bps)
            ends[key] = (enc, dec)
        enc, dec = ends[key]
        pesqs, stois, lost, late, frames, delays = [], [], 0, 0, 0, []
        for i, x in enumerate(signals):
            if cond.chain == "opus":
                enc.codec.reset()
            imp = ImpairmentConfig(cond.loss, cond.burst, cond.jitter_s, seed=seed + i)
            r = simulate_link(x, enc, dec, imp)
            pesqs.append(pesq_wb(x, r.aligned))
            stois.append(stoi(x, r.aligned))
            b = r.stats.buffer
            lost, late = lost + b.lost, late + b.late
            frames += r.impairment.packets
            delays.append(r.mean_delay_s)
        rows.append(
            Row(
                cond,
                mean_ci95(pesqs),
                mean_ci95(stois),
                100 * lost / max(frames, 1),
                100 * late / max(frames, 1),
                1000 * float(np.nanmean(delays)),
            )
        )
        if progress is not None:
            progress(format_row(rows[-1], _kbps(enc)))
    return rows


HEADER = (
    "| chain | concealment | loss % | jitter ms | PESQ-WB | STOI | lost % | late % | buffer ms |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def _kbps(encoder) -> float:
    """What the decoder must receive, kbit/s (the codec's tokens, Opus' configured rate)."""
    if hasattr(encoder, "stage"):
        return encoder.stage.bitrate_bps / 1000
    return encoder.codec.config.bitrate_bps / 1000


def format_row(row: Row, kbps: float) -> str:
    """One markdown table row."""
    c = row.condition
    conceal = "PLC + FEC" if c.chain == "opus" else c.conceal
    chain = f"{'Opus' if c.chain == 'opus' else 'codec'} {kbps:.3g} kbit/s"
    return (
        f"| {chain} | {conceal} | {100 * c.loss:g}"
        + (f" (bursts of {c.burst:g})" if c.burst > 1 else "")
        + f" | {1000 * c.jitter_s:g} | {row.pesq[0]:.2f} ± {row.pesq[1]:.2f} "
        f"| {row.stoi[0]:.3f} ± {row.stoi[1]:.3f} | {row.lost_pct:.1f} | {row.late_pct:.1f} "
        f"| {row.delay_ms:.0f} |"
    )
