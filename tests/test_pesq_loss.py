"""The PESQ-shaped training loss: PESQ's invariances, and it ranks degradations as PESQ-WB does."""

import numpy as np
import pytest
import torch
from scipy.signal import butter, sosfilt
from scipy.stats import spearmanr

from engine.audiofile import read_mono_16k
from engine.dsp.metrics import pesq_wb
from engine.training.losses import PesqShapedLoss, ReconstructionLoss
from tests.speech_fixture import make_speech


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = make_speech(tmp_path_factory.mktemp("pesq") / "s.wav")
    x = read_mono_16k(path).samples.astype(np.float32)
    return x / np.abs(x).max() * 0.5


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None]


def _noisy(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(x.shape[0]).astype(np.float32)
    return x + noise * np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10))


def test_identical_and_rescaled_signals_cost_nothing_and_noise_costs_more_as_it_grows(speech):
    loss = PesqShapedLoss()
    assert float(loss(_t(speech), _t(speech))) == pytest.approx(0.0, abs=1e-6)
    values = [float(loss(_t(_noisy(speech, snr)), _t(speech))) for snr in (40, 30, 20, 10, 0)]
    assert values[0] > 0
    # PESQ scores a global gain change as perfect; the loss nearly so (the STFT's floor)
    assert float(loss(_t(0.3 * speech), _t(speech))) < 0.05 * values[0]
    assert all(a < b for a, b in zip(values[:-1], values[1:], strict=True)), values


def test_it_ranks_degradations_as_pesq_wb_does(speech):
    """Noise, low-pass filters and coarse sample quantisation: the order of PESQ-WB."""
    degraded = [_noisy(speech, snr, seed) for seed, snr in enumerate((35, 25, 15, 5))]
    for fc in (2500, 5000):
        degraded.append(sosfilt(butter(8, fc, fs=16000, output="sos"), speech).astype(np.float32))
    degraded += [np.round(speech * q) / q for q in (16, 64)]
    scores = [pesq_wb(speech, y) for y in degraded]
    losses = [float(PesqShapedLoss()(_t(y), _t(speech))) for y in degraded]
    rho = spearmanr(scores, losses).statistic
    assert rho < -0.8, list(zip(scores, losses, strict=True))


def test_reconstruction_loss_adds_it_only_when_weighted_and_its_gradient_flows(speech):
    target = _t(speech[:8000])
    pred = _t(_noisy(speech[:8000], 10)).requires_grad_(True)
    plain, parts = ReconstructionLoss()(pred, target)
    assert "pesq" not in parts
    weighted, parts = ReconstructionLoss(pesq_weight=40.0)(pred, target)
    assert parts["pesq"] > 0
    expected = float(plain.detach()) + 40.0 * parts["pesq"]
    assert float(weighted.detach()) == pytest.approx(expected, rel=1e-5)
    (grad,) = torch.autograd.grad(weighted - plain, pred)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    with pytest.raises(ValueError, match=">= 0"):
        ReconstructionLoss(pesq_weight=-1.0)
