"""Causal log-mel front end: Slaney filterbank, framing, streaming == offline."""

import librosa
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.dsp.mel import (
    CausalLogMel,
    MelStreamer,
    hz_to_mel_slaney,
    mel_to_hz_slaney,
    slaney_mel_filterbank,
)

HOP = 320
CONTEXT = 704


def _signal(n: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy((0.3 * rng.standard_normal((1, n))).astype(np.float32))


def test_filterbank_equals_librosa_slaney():
    ours = slaney_mel_filterbank(sample_rate=16000, n_fft=1024, n_mels=80, f_min=0.0, f_max=8000.0)
    ref = librosa.filters.mel(
        sr=16000, n_fft=1024, n_mels=80, fmin=0, fmax=8000, htk=False, norm="slaney"
    )
    assert ours.shape == (80, 513)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("sr", "n_fft", "n_mels", "fmin", "fmax"), [(22050, 512, 40, 50, 7600)])
def test_filterbank_other_sizes_match_librosa(sr, n_fft, n_mels, fmin, fmax):
    ours = slaney_mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    ref = librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney"
    )
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


def test_slaney_scale_round_trips_and_is_linear_below_1khz():
    hz = np.array([0.0, 200.0, 999.0, 1000.0, 4000.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz_slaney(hz_to_mel_slaney(hz)), hz, atol=1e-9)
    assert hz_to_mel_slaney(np.array([600.0]))[0] == pytest.approx(9.0)
    assert hz_to_mel_slaney(np.array([1000.0]))[0] == pytest.approx(15.0)


@pytest.mark.parametrize(
    "kwargs", [{"f_max": 9000.0}, {"f_min": 100.0, "f_max": 50.0}, {"n_mels": 0}]
)
def test_filterbank_rejects_bad_options(kwargs):
    with pytest.raises(ValueError):
        slaney_mel_filterbank(**kwargs)


def test_offline_shape_and_length_check():
    mel = CausalLogMel()
    assert mel(_signal(HOP * 7)).shape == (1, 80, 7)
    with pytest.raises(ValueError, match="multiple of hop"):
        mel(_signal(HOP * 7 + 1))
    assert not list(mel.state_dict())  # nothing to save: all derived from the options


def _reference_logmel(x: np.ndarray) -> np.ndarray:
    """Independent float64 numpy computation of the specified features."""
    padded = np.concatenate([np.zeros(CONTEXT), x.astype(np.float64)])
    n = np.arange(1024)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / 1024)  # periodic Hann
    fb = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=80, fmin=0, fmax=8000, norm="slaney")
    frames = [padded[HOP * t : HOP * t + 1024] * window for t in range(len(x) // HOP)]
    spec = np.fft.rfft(np.stack(frames), axis=-1)
    mag = np.sqrt(spec.real**2 + spec.imag**2 + 1e-6)
    return np.log(np.maximum(mag @ fb.astype(np.float64).T, 1e-5)).T


def test_offline_matches_independent_reference():
    x = _signal(HOP * 12)
    x[:, : HOP * 3] = 0.0  # silent start exercises the 1e-6 / 1e-5 floors
    ours = CausalLogMel()(x)[0].double().numpy()
    np.testing.assert_allclose(ours, _reference_logmel(x[0].numpy()), atol=2e-4, rtol=0)


def test_frame_t_depends_only_on_its_causal_window():
    mel = CausalLogMel()
    x = _signal(HOP * 12)
    base = mel(x)
    t = 6
    later = x.clone()
    later[:, HOP * t + HOP :] += 1.0  # everything after frame t's window
    assert torch.equal(mel(later)[..., : t + 1], base[..., : t + 1])
    assert not torch.equal(mel(later)[..., t + 1], base[..., t + 1])
    last = x.clone()
    last[:, HOP * t + HOP - 1] += 1.0  # the last sample frame t covers
    assert not torch.equal(mel(last)[..., t], base[..., t])
    first = x.clone()
    first[:, HOP * t - CONTEXT + 1] += 1.0  # its first sample with a non-zero Hann weight
    assert not torch.equal(mel(first)[..., t], base[..., t])
    before = x.clone()
    before[:, HOP * t - CONTEXT - 1] += 1.0  # just before its window
    assert torch.equal(mel(before)[..., t], base[..., t])


@settings(max_examples=30, deadline=None)
@given(chunks=st.lists(st.integers(1, 6), min_size=1, max_size=8))
def test_streaming_equals_offline(chunks):
    mel = CausalLogMel()
    total = sum(chunks)
    x = _signal(HOP * total, seed=total)
    streamer = MelStreamer(mel)
    parts, pos = [], 0
    for n in chunks:
        parts.append(streamer(x[:, pos : pos + HOP * n]))
        pos += HOP * n
    streamed = torch.cat(parts, dim=-1)
    torch.testing.assert_close(streamed, mel(x), atol=1e-6, rtol=0)


def test_streamer_reset_restarts_the_stream():
    mel = CausalLogMel()
    x = _signal(HOP * 4)
    streamer = MelStreamer(mel)
    first = streamer(x)
    assert streamer.history.abs().sum() > 0
    streamer.reset()
    torch.testing.assert_close(streamer(x), first, atol=0, rtol=0)
