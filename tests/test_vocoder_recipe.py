"""The vocoder recipe's parts: amplitude prior, phase losses, prior-aware trainer."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.dsp.mel import CausalLogMel
from engine.dsp.mel_prior import log_prior, prior_matrix, synthesis_gain
from engine.models.vocos.generator import VocosConfig, VocosGenerator
from engine.training.common import load_config
from engine.training.phase_losses import anti_wrap, frame_spectrum, phase_losses
from engine.training.train_vocos import DEFAULTS, VocosTrainer
from tests.test_training import _vocos_cfg, corpus  # noqa: F401  (fixture)

CONFIGS = Path(__file__).resolve().parents[1] / "engine" / "training" / "configs"


def _harmonic(seconds: float = 1.0, f0: float = 150.0) -> torch.Tensor:
    t = torch.arange(int(16000 * seconds)) / 16000
    x = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 20))
    return (0.1 * x).float()[None]


@pytest.mark.parametrize(("n_fft", "hop"), [(512, 128), (1024, 320)])
def test_prior_reproduces_the_magnitude_of_a_known_mel(n_fft, hop):
    """The pseudo-inverse of a spectrum's own mel is close to that spectrum."""
    x = _harmonic()
    mel_fn = CausalLogMel(16000, n_fft, hop, 80)
    length = (x.shape[-1] // hop) * hop
    x = x[:, :length]
    log_mel = mel_fn(x)  # (1, 80, T): frame t spans [hop t - context, hop t + hop)
    padded = torch.nn.functional.pad(x, (n_fft - hop, 0))
    window = torch.hann_window(n_fft, periodic=True)
    spec = frame_spectrum(padded, n_fft, hop, window, log_mel.shape[-1]).abs()
    prior = torch.exp(log_prior(log_mel.transpose(1, 2), prior_matrix(16000, n_fft, hop, 80)))
    expected = spec * synthesis_gain(n_fft, hop)
    loud = expected > 0.05 * expected.max()
    rel = (prior[loud] - expected[loud]).abs().sum() / expected[loud].sum()
    assert rel < 0.5, rel
    # a prior that ignored the mel (the spectrum's mean everywhere) is far worse
    flat = expected.mean(-1, keepdim=True).expand_as(expected)
    assert (flat[loud] - expected[loud]).abs().sum() / expected[loud].sum() > 2 * rel


def test_synthesis_gain_undoes_the_window_envelope_at_75_percent_overlap():
    assert synthesis_gain(512, 128) == pytest.approx(1 / 1.5)


def test_phase_losses_are_zero_on_identical_phases_and_blind_to_wraps():
    g = torch.Generator().manual_seed(0)
    phase = (torch.rand(2, 7, 9, generator=g) * 2 - 1) * math.pi
    wraps = torch.randint(-3, 4, phase.shape, generator=g).float() * 2 * math.pi
    mag = torch.rand(phase.shape, generator=g)
    for terms in (phase_losses(phase, phase, mag), phase_losses(phase + wraps, phase, mag)):
        for name, value in terms.items():
            assert float(value) == pytest.approx(0.0, abs=1e-4), name
    other = phase_losses(phase + 0.5, phase, mag)
    assert float(other["ip"]) == pytest.approx(0.5, abs=1e-4)
    assert float(other["gd"]) == pytest.approx(0.0, abs=1e-4)  # constant offset: no delay
    noisy = phase_losses(phase + torch.randn(phase.shape, generator=g), phase, mag)
    assert all(float(v) > 0.3 for v in noisy.values())


def test_anti_wrap_is_the_distance_to_the_nearest_turn():
    e = torch.tensor([0.0, math.pi / 2, 2 * math.pi + 0.1, -2 * math.pi - 0.2, 3 * math.pi])
    torch.testing.assert_close(
        anti_wrap(e), torch.tensor([0.0, math.pi / 2, 0.1, 0.2, math.pi]), atol=1e-5, rtol=0
    )


def test_prior_head_with_zero_correction_outputs_the_prior():
    cfg = VocosConfig(dim=16, intermediate_dim=32, n_layers=1, n_fft=256, hop=64, mag_prior=True)
    model = VocosGenerator(cfg)
    with torch.no_grad():
        model.head.out.weight.zero_()
        model.head.out.bias.zero_()
    mel = model.mel(_harmonic(0.2)[:, : 64 * 40])
    log_mag, phase = model.head.spectrum(torch.zeros(1, mel.shape[-1], 16), mel)
    expected = log_prior(mel.transpose(1, 2), model.head.prior)
    torch.testing.assert_close(log_mag, expected)
    assert torch.count_nonzero(phase) == 0
    assert "head.prior" not in model.state_dict()  # derived from the config, not stored
    with pytest.raises(ValueError, match="prior"):
        model.head.spectrum(torch.zeros(1, 3, 16))


def _recipe_cfg(train_dir, noise_dir) -> dict:
    cfg = _vocos_cfg(train_dir, noise_dir)
    cfg["model"]["mag_prior"] = True
    cfg["phase_weights"] = {"ip": 1.0, "gd": 1.0, "iaf": 1.0}
    return cfg


def test_phase_losses_in_a_training_step_lower_the_loss(corpus, tmp_path):  # noqa: F811
    trainer = VocosTrainer(_recipe_cfg(*corpus), tmp_path)
    first = trainer.train_step()
    assert {"ip", "gd", "iaf"} <= set(first)
    before = trainer.run_validation()
    for _ in range(25):
        trainer.train_step()
    after = trainer.run_validation()
    assert after["val_loss"] < before["val_loss"]
    assert after["val_ip"] + after["val_gd"] + after["val_iaf"] < (
        before["val_ip"] + before["val_gd"] + before["val_iaf"]
    )


def test_reset_magnitude_head_starts_from_the_prior(corpus, tmp_path):  # noqa: F811
    cfg = _recipe_cfg(*corpus)
    cfg["reset_magnitude_head"] = True
    trainer = VocosTrainer(cfg, tmp_path)
    n = trainer.model_config.n_bins
    assert torch.count_nonzero(trainer.model.head.out.weight[:n]) == 0
    assert torch.count_nonzero(trainer.model.head.out.weight[n:]) > 0


def test_prior_vocoder_exports_and_streams_like_offline(corpus, tmp_path):  # noqa: F811
    from engine.models.vocos.checkpoint import load_vocos
    from engine.models.vocos.fast import FastVocos

    trainer = VocosTrainer(_recipe_cfg(*corpus), tmp_path / "run")
    trainer.run(steps=2)
    path = trainer.export(tmp_path / "v.safetensors")
    model = load_vocos(path)
    assert model.config.mag_prior is True
    x = _harmonic(0.3)[:, : 64 * 60]
    offline = model.audio_offline(x)
    with model.streaming() as _:
        streamed = torch.cat([model.stream_step(c) for c in x.split(64 * 3, dim=-1)], -1)
    torch.testing.assert_close(streamed, offline, atol=1e-5, rtol=0)
    fast = FastVocos.from_generator(model, precision="fp32")
    fast_out = torch.cat([fast.stream_step(c) for c in x.split(64 * 5, dim=-1)], -1)
    torch.testing.assert_close(fast_out, offline, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["vocos_recipe.json"])
def test_recipe_config_loads_and_runs_one_step(corpus, tmp_path, name):  # noqa: F811
    """The shipped recipe's config is valid; one of its steps on a tiny model lowers the loss."""
    path = CONFIGS / name
    cfg = load_config(path, DEFAULTS)
    assert cfg["model"].get("mag_prior") is True
    assert any(json.loads(path.read_text())["phase_weights"].values())
    small = _vocos_cfg(*corpus)
    for key in ("phase_weights", "loss"):
        small[key] = cfg[key]
    small["model"]["mag_prior"] = True
    trainer = VocosTrainer(small, tmp_path)
    x = torch.from_numpy(trainer.val_batch.numpy()[:4])
    with torch.no_grad():
        before = float(trainer.losses(*trainer.generate(x))[0])
    for _ in range(3):
        trainer.train_step()
    with torch.no_grad():
        after = float(trainer.losses(*trainer.generate(x))[0])
    assert np.isfinite(after) and after < before


def test_export_and_resume_do_not_need_the_init_weights_any_more(corpus, tmp_path):  # noqa: F811
    """``init_weights`` is a record once a run has its own state: the file may be gone."""
    from engine.training.train_vocos import main

    first = VocosTrainer(_recipe_cfg(*corpus), tmp_path / "first")
    first.run(steps=1)
    init = first.export(tmp_path / "init.safetensors")
    cfg = _recipe_cfg(*corpus)
    cfg["init_weights"] = str(init)
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps(cfg))
    run = tmp_path / "run"
    assert main(["--config", str(config), "--out", str(run), "--steps", "2"]) == 0
    init.unlink()
    out = tmp_path / "out.safetensors"
    assert main(["--config", str(config), "--out", str(run), "--export", str(out)]) == 0
    assert out.is_file()
    assert main(["--config", str(config), "--out", str(run), "--resume", "--steps", "3"]) == 0
    with pytest.raises(FileNotFoundError):  # a fresh run still needs them
        main(["--config", str(config), "--out", str(tmp_path / "fresh"), "--steps", "1"])
