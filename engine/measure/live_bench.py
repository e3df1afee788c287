"""Live latency bench: glass-to-glass through a JACK server, next to what the engine reports.

For each block size a JACK server is started (``jackd --no-realtime -d
dummy -r RATE -p BLOCK``; or a running one is used) and, for each chain and
chunk size, the engine is started on it. Two probe clients in a process of
their own play a probe into the engine's inputs and record its output
(:class:`~engine.measure.probe_process.ProbeProcess`; no feedback cycle, so
nothing but the engine is measured). The probe is found again by
cross-correlation: a chirp's waveform where the chain keeps the phase (dry,
codec), noise bursts' loudness envelope through a vocoder, which re-creates
the phase (precise to a few ms only: a vocoder also smears a burst in time).
Each configuration runs for ``seconds``; its engine load (processing time
per engine block against the block's duration) and the dropouts in that
time are reported with it.

``toy`` replaces the models with pass-through stages of zero delay: what is
left is the part of the latency that is not the models' (resamplers, ring,
device), for the same chains.

``cable`` measures real devices instead, through a loopback cable from the
output to the input (:meth:`Engine.measure`: the probe replaces the input
of the chain and is found again in the raw input); no JACK server is
started and none is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from engine.audio.stream import StreamSpec
from engine.live import control as cmd
from engine.live.engine import Engine, EngineOptions
from engine.live.loopback import find_delay, find_delay_envelope, make_probe
from engine.measure.jack_server import JackServer, server_period, use_server
from engine.measure.probe_process import ProbeProcess
from engine.stage import HopStage, check_chunk

CHAINS = ("dry", "codec", "vocoder", "codec+vocoder")
LIVE_CHUNKS = (1, 2, 5)
LIVE_BLOCKS = (128, 256)
PROBE_S = 0.6
RECORD_EXTRA_S = 0.6
START_TIMEOUT_S = 180.0


class PassStage(HopStage):
    """A wet stage that passes its input through with zero delay (``toy`` bench).

    It overrides :meth:`process` (no hop FIFO), so it keeps the stage
    contract with ``latency == 0``.
    """

    def __init__(self, name: str, hop: int = 16) -> None:
        super().__init__(hop)
        self.name = name

    @property
    def latency(self) -> int:
        """No delay at all."""
        return 0

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """Identity."""
        return hop_in

    def reset_state(self) -> None:
        """No state."""

    def offline(self, x: np.ndarray) -> np.ndarray:
        """Identity."""
        return np.asarray(x, np.float32)

    def process(self, block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``block`` itself, undelayed ``(n,)``."""
        x = np.asarray(block, np.float32).reshape(-1)
        if out is None:
            return x.copy()
        out[: x.shape[0]] = x
        return out[: x.shape[0]]


def pass_factory(kind: str, chunk: int) -> HopStage:
    """Stage factory of the ``toy`` bench: every stage is a :class:`PassStage`."""
    return PassStage(kind)


@dataclass(frozen=True)
class LiveOptions:
    """What to measure and how (see the module doc)."""

    chains: tuple[str, ...] = CHAINS
    chunks: tuple[int, ...] = LIVE_CHUNKS
    blocks: tuple[int, ...] = LIVE_BLOCKS
    rate: int = 48000
    probes: int = 3
    seconds: float = 5.0  # each configuration runs at least this long
    margin_ms: float | None = None  # None: the engine's automatic (adaptive) margin
    server: str | None = None  # a running JACK server instead of starting one per block
    cable: bool = False  # real devices and a loopback cable instead of JACK probe clients
    input: str | None = None  # devices of the cable mode (None: the defaults)
    output: str | None = None
    # Synchronous servers (-S): a late client (the probe, the audio host; no
    # real-time scheduling here) stretches a cycle instead of causing an xrun
    # that would garble the probe. The engine's own dropouts count either way.
    sync: bool = True
    toy: bool = False

    def __post_init__(self) -> None:
        from engine.live.taps import check_tap

        for chain in self.chains:
            check_tap(chain)
        if not self.chains or not self.chunks or not self.blocks:
            raise ValueError("need at least one chain, chunk and block")
        for n in self.chunks:
            check_chunk(n, "chunks")
        if any(type(b) is not int or not 16 <= b <= 8192 for b in self.blocks):
            raise ValueError(f"blocks must be ints in 16..8192, got {self.blocks}")
        if self.probes < 1 or self.seconds < 0:
            raise ValueError(
                f"need probes >= 1 and seconds >= 0, got {self.probes}, {self.seconds}"
            )
        if self.margin_ms is not None and not 0 <= self.margin_ms <= 500:
            raise ValueError(f"margin_ms must be 0..500, got {self.margin_ms}")
        if self.cable and self.server is not None:
            raise ValueError("a loopback cable measurement uses no JACK server")

    def spec(self, block: int) -> StreamSpec:
        """The stream to open for ``block``."""
        if self.cable:
            return StreamSpec(input=self.input, output=self.output, rate=self.rate, block=block)
        return StreamSpec(
            input="system", output="system", hostapi="JACK", rate=self.rate, block=block
        )


@dataclass(frozen=True)
class LiveRow:
    """One configuration (times in ms; measured: median over the probes found)."""

    chain: str
    chunk: int
    block: int
    reported_ms: float  # when the probes were measured (the margin may grow later)
    measured_ms: float | None
    chain_ms: float  # the aligned latency of the taps (models + resamplers)
    ring_ms: float  # one block + the safety margin
    device_ms: float  # what PortAudio reports for input + output
    median_ms: float  # processing time per engine block
    p99_ms: float  # worst 99th percentile of the engine's 512-block windows sampled in the run
    budget_ms: float  # one block of audio
    load: float
    dropouts: int  # the engine was late: output ring underruns (+ input ring overruns)
    server_xruns: int | None  # the JACK server's (PortAudio flags them too); None: no JACK
    seconds: float

    @property
    def diff_ms(self) -> float | None:
        """Measured minus reported."""
        return None if self.measured_ms is None else self.measured_ms - self.reported_ms


def configurations(opts: LiveOptions) -> Iterator[tuple[int, str, int]]:
    """Block x chain x chunk; chains without a vocoder ignore the chunk (measured once)."""
    for block in opts.blocks:
        for chain in opts.chains:
            for chunk in opts.chunks if "vocoder" in chain else opts.chunks[:1]:
                yield block, chain, chunk


def _find_ms(signal: np.ndarray, rec: np.ndarray, rate: int, keeps_phase: bool) -> float | None:
    if keeps_phase:
        delay, _ = find_delay(signal, rec)
    else:
        delay, _ = find_delay_envelope(signal, rec, rate)
    return None if delay is None else 1000.0 * delay / rate


def _signal(rate: int, keeps_phase: bool) -> np.ndarray:
    return make_probe(rate, "chirp" if keeps_phase else "bursts", seconds=PROBE_S)


class JackMeter:
    """Glass-to-glass through JACK from outside: probe clients play into and record the engine."""

    def __init__(self, server: str | None) -> None:
        self.probe = ProbeProcess(server)

    def prepare(self) -> None:
        """(Re)connect to the engine's ports."""
        self.probe.wire()

    def delay_ms(self, engine: Engine, rate: int, keeps_phase: bool) -> float | None:
        """One measurement (None: the probe was not found)."""
        signal = _signal(rate, keeps_phase)
        rec = self.probe.play_record(signal, extra=RECORD_EXTRA_S)
        return _find_ms(signal, rec, rate, keeps_phase)

    def server_xruns(self) -> int | None:
        """The server's xruns so far."""
        return self.probe.server_xruns()

    def close(self) -> None:
        """Leave the server."""
        self.probe.close()


class CableMeter:
    """Glass-to-glass through a loopback cable: the engine sends the probe and finds it again."""

    def prepare(self) -> None:
        """Nothing to connect: the cable is."""

    def delay_ms(self, engine: Engine, rate: int, keeps_phase: bool) -> float | None:
        """One measurement (None: the probe was not found)."""
        signal = _signal(rate, keeps_phase)
        _delay, _quality, rec = engine.measure(signal, seconds=PROBE_S + RECORD_EXTRA_S + 0.4)
        return _find_ms(signal, rec, rate, keeps_phase)

    def server_xruns(self) -> int | None:
        """Not known without a JACK server."""
        return None

    def close(self) -> None:
        """Nothing to close."""


def _stop(engine: Engine, timeout: float = 10.0) -> None:
    """Stop and wait for it: a snapshot read right after a Start could be the old stream's."""
    engine.send(cmd.Stop())
    deadline = time.monotonic() + timeout
    while engine.snapshot().state != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)


def _wait_running(engine: Engine, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        snap = engine.snapshot()
        if snap.state == "running":
            return
        if snap.state == "error" or time.monotonic() > deadline:
            raise RuntimeError(f"{what}: the engine did not start: {snap.error}")
        time.sleep(0.05)


def _dropouts(snap) -> int:
    return snap.xruns.ring_underrun + snap.xruns.ring_overrun


def measure_config(
    engine: Engine, meter, opts: LiveOptions, block: int, chain: str, chunk: int
) -> LiveRow:
    """Run one configuration for ``opts.seconds`` (at least) and measure it with ``meter``."""
    spec = opts.spec(block)
    fixed = opts.margin_ms is not None
    _stop(engine)
    engine.send(
        cmd.Start(spec, chain=chain, chunk=chunk, margin_ms=opts.margin_ms, adaptive=not fixed)
    )
    _wait_running(engine, f"{chain} chunk {chunk} block {block}")
    meter.prepare()
    time.sleep(0.5)  # first blocks, prefill, skew: let them settle
    first, server0, t0 = engine.snapshot(), meter.server_xruns(), time.monotonic()
    found, reported, windows = [], [], []
    for _ in range(3 * opts.probes):
        meter.prepare()  # (idempotent)
        before = engine.snapshot().latency.total_ms
        m = meter.delay_ms(engine, opts.rate, "vocoder" not in chain)
        if m is not None and engine.snapshot().latency.total_ms == before:
            found.append(m)  # (a margin that grew meanwhile would spoil the comparison)
            reported.append(before)
        windows.append(engine.snapshot().timings.get("engine block"))
        if len(found) == opts.probes:
            break
    while time.monotonic() - t0 < opts.seconds:
        time.sleep(0.5)
        windows.append(engine.snapshot().timings.get("engine block"))
    last, elapsed, server1 = engine.snapshot(), time.monotonic() - t0, meter.server_xruns()
    windows = [w for w in windows if w is not None and w.steps]
    lat = last.latency
    return LiveRow(
        chain=chain,
        chunk=chunk,
        block=block,
        reported_ms=float(np.median(reported)) if reported else lat.total_ms,
        measured_ms=float(np.median(found)) if found else None,
        chain_ms=lat.chain_ms,
        ring_ms=lat.ring_ms,
        device_ms=lat.device_in_ms + lat.device_out_ms,
        median_ms=float(np.median([w.median_ms for w in windows])) if windows else 0.0,
        p99_ms=max((w.p99_ms for w in windows), default=0.0),
        budget_ms=1000.0 * block / int(last.status.rate or opts.rate),
        load=last.load,
        dropouts=_dropouts(last) - _dropouts(first),
        server_xruns=None if server1 is None else server1 - server0,
        seconds=elapsed,
    )


def run_live_bench(
    opts: LiveOptions,
    progress: Callable[[str], None] | None = None,
    on_row: Callable[[LiveRow], None] | None = None,
    factory=None,
) -> list[LiveRow]:
    """Measure every configuration of ``opts`` (the models unless ``factory`` or ``toy``)."""
    if opts.server is not None:
        rate, period = server_period(opts.server)
        bad = [b for b in opts.blocks if b != period]
        if bad or rate != opts.rate:
            asked = ", ".join(map(str, bad or opts.blocks))
            raise ValueError(
                f"JACK server '{opts.server}' runs {rate} Hz, period {period}: it cannot measure "
                f"block {asked} at {opts.rate} Hz (leave out --jack-server to start servers)"
            )
    factory = factory or (pass_factory if opts.toy else None)
    options = EngineOptions(auto_restart=False)
    engine = Engine(factory=factory, options=options)
    rows: list[LiveRow] = []
    try:
        if opts.cable:
            return _run_blocks(engine, opts, opts.blocks, CableMeter(), progress, on_row)
        for block in opts.blocks:
            server = None
            if opts.server is None:
                server = JackServer(opts.rate, block, sync=opts.sync)
                server.start()
            name = opts.server or server.name
            try:
                with use_server(name):
                    rows += _run_blocks(engine, opts, (block,), JackMeter(name), progress, on_row)
            finally:
                if server is not None:
                    server.stop()
    finally:
        engine.close()
    return rows


def _run_blocks(engine, opts, blocks, meter, progress, on_row) -> list[LiveRow]:
    rows = []
    try:
        for block, chain, chunk in configurations(opts):
            if block not in blocks:
                continue
            if progress:
                progress(f"live {chain} chunk {chunk} block {block}")
            row = measure_config(engine, meter, opts, block, chain, chunk)
            rows.append(row)
            if on_row:
                on_row(row)
        _stop(engine)  # leave the server before it goes
    finally:
        meter.close()
    return rows


LIVE_HEAD = (
    "chain",
    "chunk",
    "block",
    "reported ms",
    "measured ms",
    "diff ms",
    "chain ms",
    "ring ms",
    "device ms",
    "median ms",
    "p99 ms",
    "budget ms",
    "load",
    "dropouts",
    "server xruns",
)


def _cells(r: LiveRow) -> tuple[str, ...]:
    m, d = r.measured_ms, r.diff_ms
    return (
        r.chain,
        str(r.chunk) if "vocoder" in r.chain else "-",
        str(r.block),
        f"{r.reported_ms:.1f}",
        "-" if m is None else f"{m:.1f}",
        "-" if d is None else f"{d:+.1f}",
        f"{r.chain_ms:.1f}",
        f"{r.ring_ms:.1f}",
        f"{r.device_ms:.1f}",
        f"{r.median_ms:.2f}",
        f"{r.p99_ms:.2f}",
        f"{r.budget_ms:.2f}",
        f"{100 * r.load:.0f}%",
        str(r.dropouts),
        "-" if r.server_xruns is None else str(r.server_xruns),
    )


def format_live_table(rows: list[LiveRow], opts: LiveOptions) -> str:
    """The rows as an aligned table, with the conditions above it."""
    lines = [LIVE_HEAD, *(_cells(r) for r in rows)]
    widths = [max(len(row[i]) for row in lines) for i in range(len(LIVE_HEAD))]
    text = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    if opts.cable:
        server = f"a loopback cable '{opts.output or 'default'}' -> '{opts.input or 'default'}'"
    elif opts.server:
        server = f"JACK server '{opts.server}'"
    else:
        server = "jackd --no-realtime " + ("-S " if opts.sync else "")
        server += f"-d dummy -r {opts.rate} -p BLOCK"
    margin = "auto (adaptive)" if opts.margin_ms is None else f"{opts.margin_ms:g} ms (fixed)"
    info = [
        f"live chain through {server}; margin {margin}; >= {opts.seconds:g} s per row",
        "stages: zero-delay pass-through (toy)" if opts.toy else "stages: the bundled models",
        "median/p99 ms: engine processing time per block (p99: worst 512-block window); "
        "budget: one block; dropouts: the engine was late (silence played); "
        "server xruns: a JACK client was late",
    ]
    return "\n".join([*info, "", *text])
