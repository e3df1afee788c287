"""RTPGHI-phase vocoders (``VocosConfig.phase == "rtpghi"``): config, head, stream, trainer."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.classic.pghi_stage import PghiStage
from engine.models.vocos.checkpoint import load_vocos, seeded_vocos
from engine.models.vocos.fast import FastVocos
from engine.models.vocos.generator import VocosConfig, VocosGenerator
from engine.models.vocos.stage import VocosStage
from engine.models.weights import WeightsInfo
from engine.training.magnitude_loss import magnitude_loss
from engine.training.train_vocos import VocosTrainer
from tests.test_training import _vocos_cfg, corpus  # noqa: F401  (fixture)
from tests.test_vocos_stream import _signal, _stream

RT = VocosConfig(
    dim=32, intermediate_dim=64, n_layers=2, n_fft=512, hop=128, mag_prior=True, phase="rtpghi"
)


@pytest.fixture(scope="module")
def rt_model():
    return seeded_vocos(RT, seed=3)


def test_phase_source_is_checked_and_defaults_to_the_seeds():
    assert VocosConfig().phase == "network"
    assert VocosConfig.from_dict(RT.to_dict()) == RT
    with pytest.raises(ValueError, match="phase"):
        VocosConfig(phase="griffin-lim")


def test_rtpghi_head_ignores_its_phase_rows_and_the_network_head_does_not():
    x = torch.from_numpy(_signal(128 * 30))[None]
    for phase, should_change in (("rtpghi", False), ("network", True)):
        model = seeded_vocos(VocosConfig(**{**RT.to_dict(), "phase": phase}), seed=0).eval()
        with torch.no_grad():
            before = model.audio_offline(x)
            model.head.out.weight[model.config.n_bins :].normal_()
            after = model.audio_offline(x)
        assert (not torch.equal(before, after)) is should_change, phase


def test_zero_correction_sounds_like_the_pghi_floor():
    """With no correction the head is the prior with RTPGHI's phase: the ``pghi`` chain."""
    model = VocosGenerator(RT).eval()
    with torch.no_grad():
        model.head.out.weight.zero_()
        model.head.out.bias.zero_()
    model.weights_info = WeightsInfo("vocos", output_delay=RT.n_fft - RT.hop)
    x = _signal(16000)
    ours, floor = VocosStage(model, 2).offline(x), PghiStage(512, 128).offline(x)
    loud = slice(2000, 16000)
    corr = np.corrcoef(ours[loud], floor[loud])[0, 1]
    assert corr > 0.99, corr  # same magnitude and phase maths; float32 vs float64, window scale


@pytest.mark.parametrize("lookahead", [False, True])
@pytest.mark.parametrize("precision", ["reference", "fp32"])
@settings(max_examples=12, deadline=None)
@given(
    chunk=st.integers(1, 5),
    blocks=st.lists(st.integers(1, 3000), min_size=1, max_size=5),
    length=st.integers(1, 9000),
)
def test_stage_stream_equals_offline_exactly(rt_model, precision, lookahead, chunk, blocks, length):
    rt_model.weights_info = WeightsInfo("vocos", output_delay=384)
    stage = VocosStage(rt_model, chunk, precision=precision, lookahead=lookahead)
    x = _signal(length, seed=length)
    streamed, offline = _stream(stage, x, blocks), stage.offline(x)
    lat = stage.latency
    assert np.all(streamed[:lat] == 0.0)
    np.testing.assert_array_equal(streamed[lat:], offline[: max(0, length - lat)])


def test_generator_stream_fast_path_and_batch_rows_agree(rt_model):
    x = torch.from_numpy(np.stack([_signal(128 * 40, seed=s) for s in (1, 2)]))
    with torch.inference_mode():
        offline = rt_model.audio_offline(x)
        state = rt_model.new_stream_state(2)
        streamed = torch.cat([rt_model.stream_step(c, state) for c in x.split(128 * 3, 1)], 1)
        single = rt_model.audio_offline(x[1:])
    fast = FastVocos.from_generator(rt_model, "fp32").audio_offline(x, 4)
    torch.testing.assert_close(streamed, offline[:, : streamed.shape[1]], atol=1e-5, rtol=0)
    torch.testing.assert_close(fast, offline, atol=1e-4, rtol=0)
    torch.testing.assert_close(single[0], offline[1], atol=1e-5, rtol=0)  # rows independent
    with torch.inference_mode():
        state.reset()  # a reset stream starts exactly as a fresh one
        again = rt_model.stream_step(x[:, : 128 * 3], state)
    torch.testing.assert_close(again, streamed[:, : 128 * 3], atol=0, rtol=0)


def test_lookahead_plays_one_frame_later_with_the_centred_phase(rt_model):
    """The look-ahead stream is the plain one's frames, one hop later, with other phases."""
    rt_model.weights_info = WeightsInfo("vocos", output_delay=384)
    plain, ahead = VocosStage(rt_model, 2), VocosStage(rt_model, 2, lookahead=True)
    assert (ahead.latency - plain.latency, ahead.model_delay) == (128, 384 + 128)
    x = _signal(128 * 60, seed=5)
    y0, y1 = plain.offline(x), ahead.offline(x)  # both aligned with x
    loud = slice(128 * 10, 128 * 50)
    assert np.std(y1[loud]) == pytest.approx(np.std(y0[loud]), rel=0.2)  # same magnitudes
    assert not np.allclose(y0[loud], y1[loud], atol=1e-4)  # but another phase
    rng_mag = np.abs(np.random.default_rng(0).standard_normal((12, 257))) + 0.1
    from engine.dsp.pghi import rtpghi

    centred = rtpghi(rng_mag, 512, 128, lookahead=True)
    backward = rtpghi(rng_mag, 512, 128)
    assert centred.shape == backward.shape and not np.allclose(centred[2:], backward[2:])


def test_lookahead_is_refused_for_a_network_phase_head():
    model = seeded_vocos(VocosConfig(**{**RT.to_dict(), "phase": "network"}), seed=0)
    with pytest.raises(ValueError, match="look-ahead needs an RTPGHI"):
        VocosStage(model, 2, lookahead=True)


def test_magnitude_loss_is_zero_on_the_target_and_grows_with_error():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 5, 9, generator=g) + 0.01
    zero, parts = magnitude_loss(torch.log(target), target)
    assert float(zero) == pytest.approx(0.0, abs=1e-6)
    off, _ = magnitude_loss(torch.log(target) + 0.3, target)
    worse, _ = magnitude_loss(torch.log(target) + 0.6, target)
    assert 0 < float(off) < float(worse)
    with pytest.raises(ValueError, match="shapes"):
        magnitude_loss(torch.zeros(1, 2, 3), torch.ones(1, 2, 4))


def _rt_cfg(train_dir, noise_dir) -> dict:
    cfg = _vocos_cfg(train_dir, noise_dir)
    cfg["model"].update(mag_prior=True, phase="rtpghi")
    cfg["reset_magnitude_head"] = True
    return cfg


def test_training_step_lowers_the_magnitude_loss_and_exports_the_mode(corpus, tmp_path):  # noqa: F811
    trainer = VocosTrainer(_rt_cfg(*corpus), tmp_path / "run")
    before = trainer.run_validation()
    for _ in range(20):
        parts = trainer.train_step()
    assert {"sc", "log_l1"} <= set(parts)
    after = trainer.run_validation()
    assert after["val_loss"] < before["val_loss"]
    trainer.save("best.pt")
    model = load_vocos(trainer.export(tmp_path / "v.safetensors"))
    assert model.config.phase == "rtpghi"
    assert model.new_stream_state(1).phase is not None


def test_rtpghi_recipe_refuses_losses_it_cannot_use(corpus, tmp_path):  # noqa: F811
    for key, value in (("adv_weight", 1.0), ("phase_weights", {"ip": 1.0, "gd": 0, "iaf": 0})):
        cfg = _rt_cfg(*corpus)
        cfg[key] = value
        with pytest.raises(ValueError, match="magnitude only"):
            VocosTrainer(cfg, tmp_path / key)


def test_shipped_rtpghi_config_is_a_magnitude_recipe():
    path = "engine/training/configs/vocos_rtpghi.json"
    cfg = json.loads(open(path).read())
    assert cfg["model"]["phase"] == "rtpghi" and cfg["model"]["mag_prior"] is True
    assert cfg["reset_magnitude_head"] is True


def test_resynthesis_training_hears_rtpghi_and_lowers_the_waveform_loss(corpus, tmp_path):  # noqa: F811
    """``rtpghi_loss: resynthesis``: waveform losses on what the stage plays (RTPGHI phase)."""
    cfg = _rt_cfg(*corpus)
    cfg["rtpghi_loss"] = "resynthesis"
    trainer = VocosTrainer(cfg, tmp_path / "run")
    x = trainer.val_batch[:2]
    y, target, _ = trainer.generate(x)
    assert y.shape == target.shape and y.dim() == 2  # audio, not magnitude frames
    model = trainer.model.eval()
    state = model.new_stream_state(2)  # the stage's own phase, on the same crops
    c = trainer.model_config
    with torch.no_grad():
        mel = model.mel.step(x[:, c.context :], x[:, : c.context].clone())
        played = model.decode_step(mel, state)
    skip = cfg["skip_frames"] * c.hop
    torch.testing.assert_close(y.detach(), played[:, skip:], atol=1e-5, rtol=0)
    before = trainer.run_validation()
    for _ in range(20):
        trainer.train_step()
    assert trainer.run_validation()["val_loss"] < before["val_loss"]
    cfg["rtpghi_loss"] = "phase"
    with pytest.raises(ValueError, match="rtpghi_loss"):
        VocosTrainer(cfg, tmp_path / "bad")
