"""The engine's :class:`~engine.live.snapshot.Status`, from what each of its parts holds."""

from __future__ import annotations

from engine.live import control as cmd
from engine.live.live_stream import LiveStream
from engine.live.processor import MixSettings
from engine.live.snapshot import Status
from engine.live.taps import ModelStageFactory, StageFactory, StageSet


def engine_status(
    mix: MixSettings,
    chunk: int,
    resampler: str,
    stage_set: StageSet | None,
    factory: StageFactory,
    start: cmd.Start | None,
    stream: LiveStream | None,
) -> Status:
    """What the engine is set to (``mix``, ``chunk``), builds, was asked for and opened."""
    fields: dict = {
        "slot_a": mix.slot_a,
        "slot_b": mix.slot_b,
        "selected": mix.selected,
        "bypass": tuple(sorted(mix.bypass)),
        "master_bypass": mix.master_bypass,
        "input_gain_db": mix.input_gain_db,
        "output_gain_db": mix.output_gain_db,
        "mute": mix.mute,
        "loudness_match": mix.loudness_match,
        "chunk": chunk,
        "resampler": resampler,
    }
    if stage_set is not None:
        fields["generation"] = stage_set.generation
        fields["vocoder_frame_ms"] = stage_set.vocoder_frame_ms()
    if stream is not None:  # only these run: the slots' taps after bypasses
        fields["taps_running"] = tuple(sorted({node.tap for node in stream.proc.nodes.values()}))
    if isinstance(factory, ModelStageFactory):
        fields["codec_weights"] = str(factory.codec_weights or "bundled")
        fields["vocoder_weights"] = str(factory.vocoder_weights or "bundled")
    if start is not None:
        fields.update(chain=start.chain, block=start.stream.block, adaptive=start.adaptive)
    if stream is not None:
        info = stream.info
        fields.update(
            margin_ms=stream.margin_ms(),
            drift_dropped_frames=stream.drift_dropped,
            rate=info.rate,
            device_block=info.block,
            input_device=info.input_name,
            output_device=info.output_name,
            duplex=info.duplex,
            in_channels=info.in_channels,
            out_channels=info.out_channels,
        )
    return Status(**fields)
