"""Turn engine state into the latency breakdown and one-line summaries."""

from __future__ import annotations

from engine.live.snapshot import Latency, Snapshot


def latency_breakdown(info, host, proc, measured_ms: float | None) -> Latency:
    """Latency parts in ms: device (as PortAudio reports), ring, chain.

    The chain part is the aligned latency every tap is delayed to; the
    resampler/codec/vocoder fields say what it is made of.
    """
    if info is None or host is None or proc is None:
        return Latency(measured_ms=measured_ms)
    rate = info.rate
    stages = proc.stage_latency_ms()
    chain_ms = 1000.0 * proc.align / rate
    ring_ms = 1000.0 * host.ring_latency() / rate
    dev_in, dev_out = 1000.0 * info.input_latency, 1000.0 * info.output_latency
    return Latency(
        device_in_ms=dev_in,
        device_out_ms=dev_out,
        ring_ms=ring_ms,
        resampler_ms=proc.resampler_latency_ms() if proc.align else 0.0,
        codec_ms=stages.get("codec", 0.0),
        vocoder_ms=stages.get("vocoder", 0.0),
        chain_ms=chain_ms,
        total_ms=dev_in + dev_out + ring_ms + chain_ms,
        measured_ms=measured_ms,
    )


def summary_line(s: Snapshot) -> str:
    """One line for logs and ``streamvox run``: state, levels, latency, load, xruns."""
    if s.state != "running":
        return f"[{s.state}]" + (f" {s.error}" if s.error else "")
    lat = s.latency
    timing = " ".join(
        f"{name}={t.median_ms:.1f}/{t.p99_ms:.1f}ms"
        for name, t in s.timings.items()
        if name != "engine block" and t.steps
    )
    x = s.xruns
    return (
        f"[running] tap={s.heard_tap} in={s.input_peak_db:6.1f}dB out={s.output_peak_db:6.1f}dB "
        f"latency={lat.total_ms:.1f}ms (chain {lat.chain_ms:.1f}, ring {lat.ring_ms:.1f}, "
        f"dev {lat.device_in_ms + lat.device_out_ms:.1f}) load={100 * s.load:.0f}% "
        f"xruns={x.total} (ovf {x.input_overflow}, unf {x.output_underflow}, "
        f"ring {x.ring_overrun}/{x.ring_underrun})" + (f" {timing}" if timing else "")
        + (f" {s.link.line()}" if s.link is not None else "")
    )  # fmt: skip
