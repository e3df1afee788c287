"""The GUI's one door to the engine: typed calls in, the engine's snapshot out.

Widgets never see the engine; controllers call this client, which turns
each action into the engine's typed commands (``engine.live.control``)
and reads its latest-value :class:`~engine.live.meters.Snapshot`. Calls
return at once (commands are queued) except those documented as blocking
(:meth:`devices`, :meth:`measure_latency`), which controllers run in a
:class:`~app.worker.Worker`.

A/B in the GUI is "what I hear now" plus "what I heard before" (Space
toggles the two); in the engine it is two slots, A and B, and a selected
slot. Choosing a tap that sits in neither slot puts it in the slot not
being heard and selects that slot, so the previous tap stays one Space away
and both stay warm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from app.engine_process import EngineProcess
from app.settings import Settings
from engine.audio.devices import DeviceInfo, HostApiInfo, query_isolated
from engine.audio.stream import StreamSpec
from engine.live import control as cmd
from engine.live.loopback import make_probe
from engine.live.snapshot import Snapshot
from engine.store.store import ModelStore

LIVE_CHAIN = "codec,vocoder"  # every tap available; stage switches are bypasses
STAGES = ("codec", "vocoder")


class EngineLike(Protocol):
    """What the client needs of an engine.

    :class:`engine.live.engine.Engine` has it, and so has
    :class:`~app.engine_process.EngineProcess` (the same engine in a child process).
    """

    def send(self, command: cmd.Command) -> None: ...  # noqa: D102
    def snapshot(self) -> Snapshot: ...  # noqa: D102
    def measure(self, probe: np.ndarray, seconds: float = ..., timeout: float = ...) -> Any: ...  # noqa: D102
    def close(self) -> None: ...  # noqa: D102


class EngineClient:
    """Drives one engine; remembers the A/B slot assignment.

    By default the engine runs in a child process (:class:`EngineProcess`),
    so that GUI work can never make it late.
    """

    def __init__(self, engine: EngineLike | None = None, store: ModelStore | None = None) -> None:
        self.engine: EngineLike = engine if engine is not None else EngineProcess()
        self.store = store if store is not None else ModelStore()
        self.slots = {"A": "dry", "B": "codec+vocoder"}
        self.selected = "B"

    # -- stream --------------------------------------------------------------------

    def start(self, s: Settings) -> None:
        """(Re)open the devices of ``s`` and restore every live control from it.

        An engine process that died is started afresh first.
        """
        if isinstance(self.engine, EngineProcess):
            self.engine.ensure_running()
        spec = StreamSpec(
            input=s.input_device.name or None,
            output=s.output_device.name or None,
            hostapi=s.host_api or None,
            rate=s.sample_rate,
            block=s.block_size,
            latency=s.latency if s.latency in ("low", "high") else float(s.latency),
        )
        self.apply_settings(s)
        fixed = s.safety_margin_ms > 0  # 0: the engine's automatic, adaptive margin
        self.send(
            cmd.Start(
                spec,
                chain=LIVE_CHAIN,
                chunk=s.chunk,
                margin_ms=s.safety_margin_ms if fixed else None,
                adaptive=not fixed,
            )
        )

    def apply_settings(self, s: Settings) -> None:
        """Send every live control of ``s`` (also valid while stopped)."""
        self.slots = s.ab_slots()
        self.selected = s.tap_slot
        for slot, tap in self.slots.items():
            self.send(cmd.AssignTap(slot, tap))
        self.send(cmd.SelectSlot(self.selected))
        self.set_stage("codec", s.codec_enabled)
        self.set_stage("vocoder", s.vocoder_enabled)
        self.set_master_bypass(s.master_bypass)
        self.set_gain("input", s.input_gain_db)
        self.set_gain("output", s.output_gain_db)
        self.set_mute(s.muted)
        self.set_level_match(s.level_match)
        self.set_chunk(s.chunk)

    def stop(self) -> None:
        """Close the devices (the engine stays ready)."""
        self.send(cmd.Stop())

    def send(self, command: cmd.Command) -> None:
        """Queue one engine command."""
        self.engine.send(command)

    def snapshot(self) -> Snapshot:
        """The engine's latest metrics (never blocks)."""
        return self.engine.snapshot()

    def engine_alive(self) -> bool:
        """False when the engine's process has died (Start starts a new one)."""
        return self.engine.alive() if isinstance(self.engine, EngineProcess) else True

    def close(self) -> None:
        """Stop streaming and end the engine thread."""
        self.engine.close()

    # -- live controls ---------------------------------------------------------------

    def select_tap(self, tap: str) -> None:
        """Hear ``tap``; the tap heard before stays in the other slot."""
        if self.slots[self.selected] == tap:
            return
        other = "A" if self.selected == "B" else "B"
        if self.slots[other] != tap:
            self.slots[other] = tap
            self.send(cmd.AssignTap(other, tap))
        self.selected = other
        self.send(cmd.SelectSlot(other))

    def assign_tap(self, slot: str, tap: str) -> None:
        """Put ``tap`` (any tap name) on ``slot``, heard or not."""
        command = cmd.AssignTap(slot, tap)  # validates; keeps the canonical name
        self.send(command)
        self.slots[slot] = command.tap

    def toggle_ab(self) -> str:
        """Switch to the other slot; return the tap now selected."""
        self.selected = "A" if self.selected == "B" else "B"
        self.send(cmd.SelectSlot(self.selected))
        return self.slots[self.selected]

    def current_tap(self) -> str:
        """The tap selected (what is heard unless bypasses change it)."""
        return self.slots[self.selected]

    def other_tap(self) -> str:
        """The tap one Space away."""
        return self.slots["A" if self.selected == "B" else "B"]

    def set_stage(self, kind: str, on: bool) -> None:
        """Run (``on``) or bypass the ``kind`` stage."""
        self.send(cmd.SetBypass(kind, not on))

    def set_master_bypass(self, on: bool) -> None:
        """Hear the aligned dry signal whatever is selected."""
        self.send(cmd.SetMasterBypass(on))

    def set_gain(self, which: str, db: float) -> None:
        """Input or output gain in dB."""
        self.send(cmd.SetGain(which, float(db)))

    def set_mute(self, on: bool) -> None:
        """Mute the output."""
        self.send(cmd.SetMute(on))

    def set_level_match(self, on: bool) -> None:
        """Loudness-match the wet taps to the dry one."""
        self.send(cmd.SetLoudnessMatch(on))

    def set_chunk(self, frames: int) -> None:
        """Vocoder chunk size in frames (``engine.stage.MIN_CHUNK..MAX_CHUNK``)."""
        self.send(cmd.SetChunk(int(frames)))

    def use_weights(self, kind: str, name: str) -> Path | None:
        """Swap ``kind``'s weights to store model ``name`` ("" = bundled default).

        Resolving verifies the file's recorded hash (raises the store's error
        if it changed or is missing); loading happens off the audio path.
        """
        if kind not in STAGES:
            raise ValueError(f"kind must be one of {STAGES}, got {kind!r}")
        path = self.store.resolve(name or f"default-{kind}")
        self.send(cmd.SwapWeights(**{kind: str(path)}))
        return path

    # -- the codec link ----------------------------------------------------------------

    def link_send(self, to: str | None, chain: str = "codec", **impairment: float) -> None:
        """Send the live input to ``to`` (``HOST:PORT``; None stops) through ``impairment``.

        ``impairment``: ``loss_pct``, ``burst``, ``jitter_ms``, ``reorder_pct``,
        ``seed``; changing only these keeps the stream going.
        """
        self.send(cmd.LinkSend(to, chain, **impairment))

    def link_listen(self, port: int | None, bind: str = "127.0.0.1", chain: str = "codec") -> None:
        """Receive the link on ``bind:port`` (0: any free port; None stops) for the link tap."""
        self.send(cmd.LinkListen(port, bind, chain))

    # -- blocking helpers (run them off the GUI thread) --------------------------------

    def devices(self) -> tuple[list[HostApiInfo], list[DeviceInfo]]:
        """Host APIs and devices, listed by a short-lived child process (blocking)."""
        return query_isolated()

    def measure_latency(self, timeout: float = 20.0) -> float:
        """Loopback measurement through the running chain; glass-to-glass ms (blocking)."""
        snap = self.snapshot()
        if snap.state != "running":
            raise RuntimeError("start the stream first")
        rate = int(snap.status.rate or 48_000)
        probe = make_probe(rate)
        delay, quality, _recording = self.engine.measure(probe, seconds=1.0, timeout=timeout)
        if delay is None:
            raise RuntimeError(
                f"the probe did not come back (match quality {quality:.1f}, needs 6)"
            )
        return 1000.0 * float(delay) / rate

    @staticmethod
    def frame_ms() -> float:
        """Latency one vocoder frame adds (its hop), from the model's configuration."""
        from engine.models.vocos.config import VocosConfig

        c = VocosConfig()
        return 1000.0 * c.hop / c.sample_rate
