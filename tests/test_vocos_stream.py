"""Streaming Vocos == offline Vocos (1e-5 max abs), through stream_step and VocosStage."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.models.vocos.checkpoint import seeded_vocos
from engine.models.vocos.generator import VocosConfig
from engine.models.vocos.stage import VocosStage

TOL = 1e-5
TINY = VocosConfig(dim=32, intermediate_dim=64, n_layers=2, layer_scale_init=0.5)


@pytest.fixture(scope="module")
def tiny():
    model = seeded_vocos(TINY, seed=1)
    with torch.no_grad():  # larger weights than the init: a strongly non-linear net
        for block in model.backbone.convnext:
            block.pwconv2.weight.mul_(20.0)
    return model


def _signal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    voice = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (voice + 0.05 * rng.standard_normal(n)).astype(np.float32)


def _stream(stage: VocosStage, x: np.ndarray, blocks: list[int]) -> np.ndarray:
    out, pos, i = [], 0, 0
    while pos < len(x):
        size = blocks[i % len(blocks)]
        out.append(stage.process(x[pos : pos + size]))
        pos += size
        i += 1
    return np.concatenate(out)


def _assert_stream_matches_offline(stage: VocosStage, x: np.ndarray, blocks: list[int]) -> None:
    streamed = _stream(stage, x, blocks)
    offline = stage.offline(x)
    lat = stage.latency
    assert streamed.shape == x.shape
    assert np.all(streamed[:lat] == 0.0)
    if len(x) <= lat:
        return
    err = np.max(np.abs(streamed[lat:] - offline[: len(x) - lat]))
    assert err <= TOL, f"max abs error {err}"
    if len(x) - lat >= 320:  # not comparing silences (sample 0 is 0: Hann starts at 0)
        assert np.max(np.abs(offline[: len(x) - lat])) > 1e-3


@pytest.mark.parametrize("chunk", range(1, 11))
def test_stage_equals_offline_for_every_chunk_size(tiny, chunk):
    stage = VocosStage(tiny, chunk_frames=chunk)
    assert stage.hop == stage.latency == 320 * chunk
    _assert_stream_matches_offline(stage, _signal(9000, seed=chunk), [1, 77, 320, 1000, 4096])


@settings(max_examples=25, deadline=None)
@given(
    chunk=st.integers(1, 10),
    blocks=st.lists(st.integers(1, 5000), min_size=1, max_size=6),
    length=st.integers(1, 12000),
)
def test_stage_equals_offline_for_any_blocks(tiny, chunk, blocks, length):
    stage = VocosStage(tiny, chunk_frames=chunk)
    _assert_stream_matches_offline(stage, _signal(length, seed=length), blocks)


def test_stream_step_with_varying_chunks_equals_audio_offline(tiny):
    x = torch.from_numpy(_signal(320 * 40)).view(1, -1)
    with torch.inference_mode():
        offline = tiny.audio_offline(x)
        state = tiny.new_stream_state(1)
        parts, pos = [], 0
        for n in [1, 4, 10, 2, 7, 1, 1, 9, 5]:
            parts.append(tiny.stream_step(x[:, pos : pos + 320 * n], state))
            pos += 320 * n
    torch.testing.assert_close(torch.cat(parts, dim=-1), offline, atol=TOL, rtol=0)


def test_batched_streams_are_independent(tiny):
    x = torch.from_numpy(np.stack([_signal(320 * 12, 1), _signal(320 * 12, 2)]))
    with torch.inference_mode(), tiny.streaming(batch_size=2):
        streamed = torch.cat([tiny.stream_step(x[:, i : i + 960]) for i in range(0, 3840, 960)], 1)
        offline = tiny.audio_offline(x)
    torch.testing.assert_close(streamed, offline, atol=TOL, rtol=0)
    assert tiny._stream is None  # the context cleared its state


def test_seed_size_streaming_equals_offline():
    model = seeded_vocos(seed=0)  # dim 512, 8 layers, 80 mels
    with torch.no_grad():
        for block in model.backbone.convnext:
            block.gamma.fill_(0.3)  # the 1e-6 init would hide the blocks
    stage = VocosStage(model, chunk_frames=5)
    _assert_stream_matches_offline(stage, _signal(8000, seed=5), [441, 160, 2048])


def test_reset_restarts_the_stream(tiny):
    stage = VocosStage(tiny, chunk_frames=2)
    x = _signal(4000)
    first = stage.process(x)
    stage.reset()
    np.testing.assert_array_equal(stage.process(x), first)


@pytest.mark.parametrize("chunk", [0, 11, -1, 2.5, True, "5"])
def test_stage_rejects_bad_chunk_sizes(tiny, chunk):
    with pytest.raises(ValueError):
        VocosStage(tiny, chunk_frames=chunk)


def test_stage_identity(tiny):
    stage = VocosStage(tiny, 5)
    assert stage.name == "vocoder"
    assert stage.chunk_frames == 5 and stage.latency == 1600
    assert stage.offline(np.zeros(0, dtype=np.float32)).shape == (0,)


def test_stream_step_rejects_bad_input(tiny):
    state = tiny.new_stream_state(1)
    with torch.inference_mode():
        with pytest.raises(ValueError, match="multiple of 320"):
            tiny.stream_step(torch.zeros(1, 300), state)
        with pytest.raises(ValueError, match="multiple of 320"):
            tiny.stream_step(torch.zeros(1, 0), state)
        with pytest.raises(ValueError, match="B=1"):
            tiny.stream_step(torch.zeros(2, 320), state)
