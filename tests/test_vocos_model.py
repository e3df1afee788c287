"""Vocos generator: config, seed key names/shapes, weight norm, head maths, causality."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.models.vocos.checkpoint import seeded_vocos
from engine.models.vocos.conv import WeightNormConv1d
from engine.models.vocos.generator import VocosConfig, VocosGenerator, map_seed_keys
from engine.models.vocos.head import OverlapAdd

TINY = VocosConfig(dim=32, intermediate_dim=48, n_layers=2, layer_scale_init=0.5)


def _audio(n: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(batch, n, generator=g)


# ----- config --------------------------------------------------------------


def test_config_defaults_are_the_seed_sizes_and_round_trip():
    c = VocosConfig()
    assert (c.n_mels, c.dim, c.intermediate_dim, c.n_layers, c.kernel) == (80, 512, 1536, 8, 7)
    assert (c.n_fft, c.hop, c.sample_rate, c.context) == (1024, 320, 16000, 704)
    assert VocosConfig.from_dict(TINY.to_dict()) == TINY
    assert VocosConfig.from_dict({"layer_scale_init": None}).layer_scale_init is None


@pytest.mark.parametrize(
    "bad",
    [
        {"dim": 0},
        {"n_layers": -1},
        {"hop": 2048},
        {"n_fft": 1023},
        {"kernel": 2.0},
        {"dim": True},
        {"layer_scale_init": 0.0},
        {"layer_scale_init": "big"},
        {"colour": "red"},
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        VocosConfig.from_dict(bad)


def test_config_from_dict_needs_a_mapping():
    with pytest.raises(ValueError):
        VocosConfig.from_dict([("dim", 3)])


# ----- state dict as in the seed ---------------------------------------------


def _seed_keys(n_layers: int) -> set[str]:
    wn = ("weight_g", "weight_v", "bias")
    keys = {f"decoder.0.embed.conv.conv.{p}" for p in wn}
    keys |= {"decoder.0.norm.weight", "decoder.0.norm.bias"}
    for i in range(n_layers):
        pre = f"decoder.0.convnext.{i}."
        keys |= {f"{pre}dwconv.conv.conv.{p}" for p in wn}
        keys |= {
            f"{pre}{m}.{p}" for m in ("norm", "pwconv1", "pwconv2") for p in ("weight", "bias")
        }
        keys.add(f"{pre}gamma")
    keys |= {"decoder.0.final_layer_norm.weight", "decoder.0.final_layer_norm.bias"}
    keys |= {
        "decoder.1.out.weight",
        "decoder.1.out.bias",
        "decoder.1.istft.overlap_add.deconv.weight",
    }
    return keys


def test_state_dict_keys_are_the_seeds():
    model = VocosGenerator(TINY)
    assert set(model.state_dict()) == set(map_seed_keys({k: 0 for k in _seed_keys(2)}))


def test_seed_size_shapes():
    sd = VocosGenerator().state_dict()
    shapes = {
        "backbone.embed.conv.conv.weight_g": (512, 1, 1),
        "backbone.embed.conv.conv.weight_v": (512, 80, 7),
        "backbone.convnext.7.dwconv.conv.conv.weight_v": (512, 1, 7),
        "backbone.convnext.7.dwconv.conv.conv.weight_g": (512, 1, 1),
        "backbone.convnext.0.pwconv1.weight": (1536, 512),
        "backbone.convnext.0.pwconv2.weight": (512, 1536),
        "backbone.convnext.0.gamma": (512,),
        "head.out.weight": (1026, 512),
        "head.istft.overlap_add.deconv.weight": (1024, 1, 1024),
    }
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    kernel = sd["head.istft.overlap_add.deconv.weight"]
    assert torch.equal(kernel[:, 0, :], torch.eye(1024))


def test_load_seed_state_dict_maps_decoder_prefixes():
    src = seeded_vocos(TINY, seed=3)
    seed_sd = {}
    for k, v in src.state_dict().items():
        seed_sd[k.replace("backbone.", "decoder.0.", 1).replace("head.", "decoder.1.", 1)] = v
    dst = VocosGenerator(TINY).eval()
    dst.load_seed_state_dict(seed_sd)
    x = _audio(320 * 6)
    torch.testing.assert_close(dst.audio_offline(x), src.audio_offline(x), atol=0, rtol=0)


# ----- weight norm -------------------------------------------------------------


def test_weight_norm_reparametrisation_and_cache_invalidation():
    conv = WeightNormConv1d(4, 6, 3)
    with torch.no_grad():
        conv.weight_g.uniform_(0.5, 2.0)
    expected = torch._weight_norm(conv.weight_v, conv.weight_g, 0)
    torch.testing.assert_close(conv.fold(), expected)
    assert conv.fold() is conv.fold()  # cached
    with torch.no_grad():
        conv.weight_g.mul_(2.0)  # e.g. an optimiser step or load_state_dict
    torch.testing.assert_close(conv.fold(), 2.0 * expected)


def test_weight_norm_is_differentiable_when_training():
    model = VocosGenerator(TINY).train()
    model.fold_weight_norm()
    y = model.audio_offline(_audio(320 * 4))
    y.square().sum().backward()
    g = model.backbone.embed.conv.conv.weight_g.grad
    assert g is not None and g.abs().sum() > 0


def test_folded_weights_follow_load_state_dict():
    a, b = seeded_vocos(TINY, seed=1), seeded_vocos(TINY, seed=2)
    x = _audio(320 * 5)
    with torch.inference_mode():
        before = a.audio_offline(x)
        a.load_state_dict(b.state_dict())
        after = a.audio_offline(x)
        assert not torch.allclose(before, after)
        torch.testing.assert_close(after, b.audio_offline(x), atol=0, rtol=0)


# ----- head ---------------------------------------------------------------------


def test_overlap_add_equals_seed_identity_deconv():
    ola = OverlapAdd(1024, 320)
    frames = torch.randn(2, 7, 1024)
    ours = ola(frames)
    seed_style = F.conv_transpose1d(frames.transpose(1, 2), ola.deconv.weight, stride=320)[:, 0]
    assert ours.shape == (2, 7 * 320)
    torch.testing.assert_close(ours, seed_style[:, : 7 * 320], atol=1e-5, rtol=1e-6)


def test_head_clips_magnitude_at_100_and_applies_periodic_hann():
    model = VocosGenerator(TINY)
    head = model.head
    with torch.no_grad():
        head.out.weight.zero_()
        head.out.bias.zero_()
        head.out.bias[:513] = float(np.log(1e4))  # exp -> 1e4, clipped to 100; phase 0
    hidden = torch.zeros(1, 1, TINY.dim)
    with torch.no_grad():
        y = head(hidden)[0].numpy()
    frame = np.fft.irfft(np.full(513, 100.0), n=1024)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
    np.testing.assert_allclose(y, (frame * window)[:320], atol=1e-5)


# ----- whole generator -------------------------------------------------------------


def test_shapes():
    model = seeded_vocos(TINY)
    mel = torch.randn(2, 80, 9)
    assert model(mel).shape == (2, 9 * 320)
    for n in (1, 319, 320, 1000):
        assert model.audio_offline(_audio(n, batch=2)).shape == (2, n)
    with pytest.raises(ValueError):
        model.audio_offline(torch.zeros(320))


def test_generator_is_causal():
    model = seeded_vocos(TINY)
    x = _audio(320 * 10)
    base = model.audio_offline(x)
    cut = 320 * 6
    changed = x.clone()
    changed[:, cut:] += 0.5
    out = model.audio_offline(changed)
    assert torch.equal(out[:, :cut], base[:, :cut])
    assert not torch.allclose(out[:, cut:], base[:, cut:])


def test_batch_items_are_independent():
    model = seeded_vocos(TINY)
    x = _audio(320 * 6, batch=2)
    both = model.audio_offline(x)
    torch.testing.assert_close(both[1:], model.audio_offline(x[1:]), atol=1e-6, rtol=0)


def test_seeded_init_is_deterministic_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = seeded_vocos(TINY, seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    b, c = seeded_vocos(TINY, seed=7), seeded_vocos(TINY, seed=8)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    w = "backbone.convnext.0.pwconv1.weight"
    assert not torch.equal(a.state_dict()[w], c.state_dict()[w])
    assert not a.training
