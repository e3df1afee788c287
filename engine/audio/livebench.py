"""Live latency bench: glass-to-glass per chain / chunk / block, next to what the engine reports.

For each configuration the engine is started and a probe is sent through
it and found again by cross-correlation: a chirp's waveform where the chain
keeps the phase (dry, codec), noise bursts' loudness envelope through a
vocoder, which re-creates the phase (precise to a few ms only: a vocoder
also smears a burst in time). With ``--jack`` the chirp is played
into the engine's input ports and recorded from its output ports by two
outside JACK clients (``jack_probe``: no feedback cycle, so nothing but the
engine is measured); otherwise the engine feeds the chirp into its chain and
finds it in its input through a loopback cable (``Engine.measure``).

    python -m engine.audio.livebench --input system --output system --jack
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from engine.audio import commands as cmd
from engine.audio.engine import Engine, EngineOptions
from engine.audio.loopback import find_delay, find_delay_envelope, make_probe
from engine.audio.stream import StreamSpec

WET = ("codec", "vocoder", "codec,vocoder")


@dataclass(frozen=True)
class Row:
    """One configuration's result (times in ms; measured is the median of the probes)."""

    chain: str
    chunk: int
    block: int
    measured_ms: float | None
    reported_ms: float
    chain_ms: float
    ring_ms: float
    device_ms: float
    load: float
    engine_xruns: int
    server_xruns: int


class JackMeter:
    """Glass-to-glass through JACK from outside: probe clients play into and record the engine."""

    def __init__(self) -> None:
        from engine.audio.jack_probe import JackProbe

        self.probe = JackProbe()

    def __call__(self, engine: Engine, rate: int, keeps_phase: bool) -> float | None:
        """One measurement in ms (None if the probe was not found)."""
        self.probe.wire()
        probe = make_probe(rate, "chirp" if keeps_phase else "bursts", seconds=0.6)
        rec = self.probe.play_record(probe, extra=1.0)
        if keeps_phase:
            delay, _ = find_delay(probe, rec)
        else:
            delay, _ = find_delay_envelope(probe, rec, rate)
        return None if delay is None else 1000.0 * delay / rate

    def close(self) -> None:
        """Leave the server."""
        self.probe.close()


def cable_meter(engine: Engine, rate: int, keeps_phase: bool) -> float | None:
    """One measurement in ms through a physical (or virtual) loopback cable."""
    probe = make_probe(rate, "chirp" if keeps_phase else "bursts", seconds=0.6)
    delay, _quality, recording = engine.measure(probe, seconds=1.5)
    if not keeps_phase:
        delay, _ = find_delay_envelope(probe, recording, rate)
    return None if delay is None else 1000.0 * delay / rate


def configurations(chains, chunks, blocks):
    """Chain x chunk x block, without repeating chunk sizes for chains that ignore them."""
    for chain in chains:
        for block in blocks:
            for chunk in chunks if "vocoder" in chain else chunks[:1]:
                yield chain, chunk, block


def measure_one(engine: Engine, spec: StreamSpec, chain: str, chunk: int, meter, probes: int):
    """Start one configuration and measure it ``probes`` times."""
    engine.send(cmd.Start(spec, chain=chain, chunk=chunk))
    deadline = time.monotonic() + 120.0
    while engine.snapshot().state != "running":
        if engine.snapshot().state == "error" or time.monotonic() > deadline:
            raise RuntimeError(f"{chain} chunk {chunk}: {engine.snapshot().error}")
        time.sleep(0.05)
    time.sleep(0.5)  # let the load settle
    first = engine.snapshot()
    rate = int(first.settings.get("rate", 48000))
    found = []
    for _ in range(3 * probes):
        before = engine.snapshot().latency.total_ms
        m = meter(engine, rate, "vocoder" not in chain)
        if m is not None and engine.snapshot().latency.total_ms == before:
            found.append(m)  # (a margin that grew meanwhile would spoil the comparison)
        if len(found) == probes:
            break
    s = engine.snapshot()
    lat, x, x0 = s.latency, s.xruns, first.xruns
    row = Row(
        chain=chain,
        chunk=chunk,
        block=spec.block,
        measured_ms=float(np.median(found)) if found else None,
        reported_ms=lat.total_ms,
        chain_ms=lat.chain_ms,
        ring_ms=lat.ring_ms,
        device_ms=lat.device_in_ms + lat.device_out_ms,
        load=s.load,
        engine_xruns=x.ring_underrun + x.ring_overrun - x0.ring_underrun - x0.ring_overrun,
        server_xruns=x.input_overflow - x0.input_overflow,
    )
    return row


def run_bench(spec: StreamSpec, chains=("dry", *WET), chunks=(1, 2, 5), blocks=(128, 256),
              meter=cable_meter, probes: int = 3, out=sys.stdout) -> list[Row]:  # fmt: skip
    """Measure every configuration; print a table row as each one finishes."""
    rows = []
    engine = Engine(options=EngineOptions())
    header = (
        f"{'chain':14} {'chunk':>5} {'block':>5} {'measured':>9} {'reported':>9} "
        f"{'chain':>7} {'ring':>6} {'device':>6} {'load':>5} {'xruns':>5}"
    )
    print(header, file=out, flush=True)
    try:
        for chain, chunk, block in configurations(chains, chunks, blocks):
            s = StreamSpec(**{**asdict(spec), "block": block})
            row = measure_one(engine, s, chain, chunk, meter, probes)
            rows.append(row)
            m = row.measured_ms
            print(
                f"{chain:14} {chunk:5d} {block:5d} "
                + (f"{m:9.1f}" if m is not None else "        -")
                + f" {row.reported_ms:9.1f} {row.chain_ms:7.1f} "
                f"{row.ring_ms:6.1f} {row.device_ms:6.1f} {100 * row.load:4.0f}% "
                f"{row.engine_xruns:5d}",
                file=out,
                flush=True,
            )
    finally:
        engine.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    p = argparse.ArgumentParser(description="live glass-to-glass latency bench")
    p.add_argument("--input", default=None)
    p.add_argument("--output", default=None)
    p.add_argument("--rate", type=int, default=None)
    p.add_argument("--chains", default="dry,codec,vocoder,codec+vocoder")
    p.add_argument("--chunks", default="1,2,5")
    p.add_argument("--blocks", default="128,256")
    p.add_argument("--probes", type=int, default=3)
    p.add_argument("--jack", action="store_true",
                   help="measure with JACK probe clients instead of a loopback cable")  # fmt: skip
    a = p.parse_args(argv)
    spec = StreamSpec(input=a.input, output=a.output, rate=a.rate)
    chains = tuple(c.replace("+", ",") for c in a.chains.split(","))
    meter = JackMeter() if a.jack else cable_meter
    try:
        rows = run_bench(
            spec,
            chains=chains,
            chunks=tuple(int(c) for c in a.chunks.split(",")),
            blocks=tuple(int(b) for b in a.blocks.split(",")),
            meter=meter,
            probes=a.probes,
        )
    finally:
        if isinstance(meter, JackMeter):
            meter.close()
    return 0 if all(r.measured_ms is not None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
