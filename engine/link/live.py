"""The codec link inside the live engine: the input sent, what arrives played as the ``link`` tap.

The engine thread calls :meth:`LinkPort.feed` with every block of the 16
kHz signal, before the wet stages run (the audio callback, in its own
process, never sees any of this):

- sending: the block is cut into the chain's frames, each encoded, framed
  (:mod:`engine.link.framing`), passed through the impairment simulator and
  put on a non-blocking UDP socket when its (simulated) delivery time comes;
- listening: the socket is drained without blocking into a
  :class:`~engine.link.playout.Playout`, which is ticked once per frame of
  the engine's own 16 kHz clock; the frames go into a ring on that clock,
  from which each :class:`LinkTapStage` (the ``link`` tap, and the one
  feeding the vocoder in ``link+vocoder``) copies its hops.

Building an end loads a model (the codec) and resolves an address, so it
happens on a thread of its own; the engine thread only swaps the finished
end in. Errors (a port taken, an address that does not resolve) show in
the stats, never stop the stream.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.link.endpoints import LinkDecoder, make_decoder
from engine.link.impairment import ImpairmentConfig
from engine.link.playout import Playout
from engine.link.receiver import UdpSource
from engine.link.sender import BlockSender, build_block_sender
from engine.stage import SAMPLE_RATE, HopStage

#: the link tap's hop: 8 ms, a divisor of the vocoder's chunks (fused steps stay large)
TAP_HOP = 128
#: what the ring keeps of the received signal (a tap reads the newest 2 frames at most)
RING = SAMPLE_RATE
#: a pause between two blocks this long (a stopped stream): the datagrams that wait are stale
STALE_S = 1.0
#: coding steps whose median is the link's cost (the engine's safety margin counts it)
COST_STEPS = 16
#: one end built at a time: TorchScript compiling two codecs at once fails (eager fallback)
_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True)
class SimTapStats:
    """One simulated-link tap (``simlink@CHAIN``) while it runs: frames sent, lost, late."""

    chain: str
    frames: int
    lost: int  # concealed because the simulator lost the packet
    late: int  # concealed because it missed the fixed jitter-buffer delay


@dataclass(frozen=True)
class LinkStats:
    """What the link did, for the snapshot (counts since each end started; times in ms)."""

    sending_to: str | None = None
    send_chain: str | None = None
    sent: int = 0  # frames encoded and framed
    datagrams_out: int = 0  # put on the wire (copies the simulator let through)
    simulated_lost: int = 0
    payload_bps: float = 0.0
    listening_on: str | None = None
    receive_chain: str | None = None
    datagrams_in: int = 0
    playing: bool = False  # a stream plays (it ends after 1 s without packets)
    received: int = 0  # packets accepted by the jitter buffer
    lost: int = 0
    late: int = 0
    duplicated: int = 0
    rejected: int = 0
    concealed: int = 0
    jitter_ms: float = 0.0
    delay_ms: float = 0.0
    target_ms: float = 0.0
    one_way_ms: float | None = None
    coding_ms: float | None = None  # median time of a block's encoding and decoding
    error: str | None = None
    simulated: tuple[SimTapStats, ...] = ()  # the simlink@ taps that run

    def sim_line(self) -> str:
        """The simulated-link taps in words."""
        return ", ".join(f"{t.chain} lost={t.lost} late={t.late}" for t in self.simulated)

    def line(self) -> str:
        """The link's part of the run metrics line."""
        parts = []
        if self.sending_to:
            parts.append(f"sent={self.sent} ({self.send_chain}, sim lost {self.simulated_lost})")
        if self.listening_on:
            parts.append(
                f"recv={self.received} lost={self.lost} late={self.late} "
                f"rejected={self.rejected} jitter={self.jitter_ms:.1f}ms "
                f"buffer={self.delay_ms:.1f}ms"
            )
        if self.simulated:
            parts.append(f"sim {self.sim_line()}")
        if self.error:
            parts.append(f"error: {self.error}")
        return "link: " + " ".join(parts) if parts else ""


class _Listener:
    """A bound socket and the playout it feeds."""

    def __init__(self, command, source: UdpSource, decoder: LinkDecoder) -> None:
        self.command, self.source = command, source
        self.playout = Playout(decoder)
        self.frame = decoder.frame_samples

    def discard_pending(self, limit: int = 100_000) -> None:
        """Drop what the socket holds (counted as rejected ``stale``): it would play late."""
        for _ in range(limit):
            try:
                self.source.sock.recv(1)
            except OSError:  # BlockingIOError: empty
                return
            self.playout.stats.datagrams += 1
            self.playout.stats.rejected["stale"] += 1

    def stats(self) -> dict:
        s, b = self.playout.stats, self.playout.buffer.stats
        one_way = s.one_way_s[-1] if s.one_way_s else None
        host, port = self.source.address[:2]
        return {
            "listening_on": f"{host}:{port}",
            "receive_chain": self.command.chain,
            "datagrams_in": s.datagrams,
            "playing": self.playout.buffer.started,
            "received": b.accepted,
            "lost": b.lost,
            "late": b.late,
            "duplicated": b.duplicates,
            "rejected": s.rejected_total,
            "concealed": b.concealed,
            "jitter_ms": 1000.0 * b.jitter_s,
            "delay_ms": 1000.0 * b.delay_s,
            "target_ms": 1000.0 * b.target_s,
            "one_way_ms": None if one_way is None else 1000.0 * one_way,
        }

    def close(self) -> None:
        self.source.close()


def _same(end: str, a, b) -> bool:
    """Whether two commands of ``end`` want the same end (an impairment change is a retune)."""
    if a is None or b is None:
        return False
    if end == "send":
        return (a.to, a.chain) == (b.to, b.chain) and a.to is not None
    return (a.port, a.bind, a.chain) == (b.port, b.bind, b.chain) and a.port is not None


def _build_listener(command, codec_weights) -> _Listener:
    source = UdpSource(command.port, command.bind)
    try:
        return _Listener(command, source, make_decoder(command.chain, codec_weights))
    except BaseException:
        source.close()
        raise


class LinkPort:
    """The engine's two link ends and the ring the ``link`` tap reads (see the module docstring).

    Engine thread only, except :meth:`tap_stage` (the stage builder's thread).
    """

    def __init__(self, codec_weights: Callable[[], object] = lambda: None) -> None:
        self.codec_weights = codec_weights  # the engine's codec weights (both ends must agree)
        self.impairment = ImpairmentConfig()  # the last LinkSend's, also for the simlink taps
        self.ring = np.zeros(RING, np.float32)
        self.clock = 0  # 16 kHz samples the engine has fed (the tap's time axis)
        self.produced = 0  # samples written to the ring (>= clock)
        self._data_end = -RING  # where the last received frame ends: the ring is all zeros
        self._sender: BlockSender | None = None
        self._listener: _Listener | None = None
        self._wanted = {"send": None, "listen": None}  # the latest command of each end
        self._building = {"send": None, "listen": None}  # the command whose end is being built
        self._done: queue.Queue = queue.Queue()
        self._error: str | None = None
        self._sims: dict = {}  # chain -> the latest simlink@ stage built (engine.link.sim_tap)
        self._fed_at = -np.inf  # monotonic time of the last block
        self.step_seconds: float | None = None  # a block's encoding and decoding, if it had any
        self._costs = np.zeros(COST_STEPS)  # the first coding steps' times of these ends
        self._costs_seen = 0
        self._coding_ms: float | None = None

    # -- commands ------------------------------------------------------------------------------
    def apply(self, end: str, command) -> None:
        """``end`` "send" (a ``LinkSend``) or "listen" (a ``LinkListen``): build, retune or stop it.

        The commands are those of :mod:`engine.live.control`. A ``LinkSend``'s
        impairment also becomes the simulated link taps' (sending or not).
        """
        self._wanted[end] = command
        if end == "send":
            self.impairment = command.impairment()
        self._error = None
        if end == "send" and self._sender is not None and _same(end, self._sender.command, command):
            self._sender.retune(command)
            return
        if (command.to if end == "send" else command.port) is None:
            self._replace(end, None)
            return
        if _same(end, self._building[end], command):
            return  # the end on its way is this one: it takes the latest settings when built
        self._building[end] = command
        build = build_block_sender if end == "send" else _build_listener
        threading.Thread(
            target=self._build, args=(end, command, build, self.codec_weights()),
            name=f"streamvox-link-{end}", daemon=True,
        ).start()  # fmt: skip

    def _build(self, end: str, command, build, codec_weights) -> None:
        try:
            with _BUILD_LOCK:
                result = build(command, codec_weights)
            self._done.put((end, command, result))
        except Exception as exc:  # noqa: BLE001 - reported in the stats
            self._done.put((end, command, exc))

    def poll(self) -> None:
        """Swap in the ends built since the last call (those still wanted)."""
        while True:
            try:
                end, command, result = self._done.get_nowait()
            except queue.Empty:
                return
            if self._building[end] is command:
                self._building[end] = None
            wanted = self._wanted[end]
            if not _same(end, command, wanted):
                if not isinstance(result, Exception):
                    result.close()  # superseded while it was built
                continue
            if end == "send" and not isinstance(result, Exception):
                result.retune(wanted)  # the sliders may have moved meanwhile
            if isinstance(result, Exception):
                what = "send to" if end == "send" else "listen on"
                where = command.to if end == "send" else f"{command.bind}:{command.port}"
                self._error = f"cannot {what} {where}: {result}"
                self._replace(end, None)
            else:
                self._replace(end, result)

    @property
    def coding_ms(self) -> float | None:
        """Median time of a block's encoding and decoding since the ends last changed.

        None until :data:`COST_STEPS` coding steps have run (the first one,
        which may pay for lazy set-up, is not counted).
        """
        return self._coding_ms

    def _count_cost(self, seconds: float) -> None:
        self.step_seconds = seconds
        seen = self._costs_seen
        if seen > COST_STEPS:
            return  # measured: the engine asks every block, the median is taken once
        if seen > 0:
            self._costs[seen - 1] = seconds
        if seen == COST_STEPS:
            self._coding_ms = 1e3 * float(np.median(self._costs))
        self._costs_seen = seen + 1

    def _replace(self, end: str, new) -> None:
        self._costs_seen, self._coding_ms = 0, None  # other ends, another cost
        old = self._sender if end == "send" else self._listener
        if old is not None:
            old.close()
        if end == "send":
            self._sender = new
        else:
            self._listener = new

    def close(self) -> None:
        """Close both sockets."""
        self._wanted = {"send": None, "listen": None}
        self._replace("send", None)
        self._replace("listen", None)

    # -- the engine's blocks -------------------------------------------------------------------
    def feed(self, x16: np.ndarray) -> None:
        """One block of the 16 kHz input: send it, read the socket, play up to its end."""
        t0 = time.perf_counter()
        now = time.monotonic()
        sender, coded = self._sender, False
        if sender is not None:
            sent = sender.seq
            sender.feed(x16, now)
            coded = sender.seq != sent
        self.clock += x16.shape[0]
        if self._play(now) or coded:
            self._count_cost(time.perf_counter() - t0)

    def _play(self, now: float) -> bool:
        """Read the socket and write the ring up to the clock; True if a frame was decoded."""
        listener = self._listener
        if listener is not None:
            if now - self._fed_at > STALE_S:  # the stream was stopped: what waits is old
                listener.discard_pending()
            listener.source.read_pending(listener.playout, time.monotonic)
        self._fed_at = now
        if listener is None:  # silence: written in place, and only until the ring is all zeros
            if self.produced < self.clock:
                if self.produced - self._data_end < RING:
                    self._silence(self.clock - self.produced)
                else:
                    self.produced = self.clock
            return False
        decoded = self.produced < self.clock
        while self.produced < self.clock:
            self._write(listener.playout.tick(now))
        return decoded

    def _write(self, frame: np.ndarray) -> None:
        start = self.produced % RING
        first = min(frame.shape[0], RING - start)
        self.ring[start : start + first] = frame[:first]
        self.ring[: frame.shape[0] - first] = frame[first:]
        self.produced += frame.shape[0]
        self._data_end = self.produced

    def _silence(self, n: int) -> None:
        start = self.produced % RING
        first = min(n, RING - start)
        self.ring[start : start + first] = 0.0
        self.ring[: min(n, RING) - first] = 0.0
        self.produced += n

    def read(self, start: int, n: int) -> np.ndarray:
        """Ring samples ``start .. start + n`` of the tap's time axis (zeros if not held)."""
        if start < self.produced - RING or start + n > self.produced or start < 0:
            return np.zeros(n, np.float32)
        i = start % RING
        if i + n <= RING:
            return self.ring[i : i + n].copy()
        return np.concatenate([self.ring[i:], self.ring[: i + n - RING]])

    def tap_stage(self, chunk: int = 0) -> LinkTapStage:
        """A fresh stage of the ``link`` tap (the stage factory's call; ``chunk`` is unused)."""
        return LinkTapStage(self)

    def stage_makers(self) -> dict[str, Callable[[int], HopStage]]:
        """The stage kinds the engine builds here: ``link`` and the simulated link taps."""
        from engine.link.sim_tap import SIM_CHAINS, SimLinkStage

        def sim(chain: str) -> Callable[[int], HopStage]:
            def make(_chunk: int) -> HopStage:
                stage = SimLinkStage(chain, lambda: self.impairment, self.codec_weights())
                self._sims[chain] = stage
                return stage

            return make

        makers = {f"simlink@{chain}": sim(chain) for chain in SIM_CHAINS}
        return {"link": self.tap_stage, **makers}

    # -- reporting -----------------------------------------------------------------------------
    def stats(self) -> LinkStats | None:
        """What both ends did (None while the link is off); also swaps in finished builds."""
        self.poll()
        now = time.monotonic()
        simulated = tuple(
            SimTapStats(chain, s.frames, s.playout.buffer.stats.lost, s.playout.buffer.stats.late)
            for chain, s in sorted(self._sims.items())
            if now - s.last_step < 1.0
        )
        if self._sender is None and self._listener is None and not (self._error or simulated):
            return None
        fields: dict = {"error": self._error, "simulated": simulated, "coding_ms": self.coding_ms}
        for end in (self._sender, self._listener):
            if end is not None:
                fields.update(end.stats())
        return LinkStats(**fields)


class LinkTapStage(HopStage):
    """The ``link`` tap: what the link receives, on the engine's clock; its input is ignored.

    It reads the port's ring from where the engine's clock stood when the
    stage was (re)set, a hop at a time: the engine feeds the port before the
    stages, so every hop it asks for has been played into the ring.
    """

    name = "link"

    def __init__(self, port: LinkPort) -> None:
        super().__init__(TAP_HOP)
        self.port = port
        self._pos = port.clock

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """The next hop of the received signal."""
        out = self.port.read(self._pos, self.hop)
        self._pos += self.hop
        return out

    def reset_state(self) -> None:
        """Start reading at the engine's clock now."""
        self._pos = self.port.clock

    def offline(self, x: np.ndarray) -> np.ndarray:
        """No offline form: a link plays what a peer sends, live."""
        raise ValueError("the link tap plays only live")
