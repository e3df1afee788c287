import numpy as np
import pytest
import torch

from engine.models.codec.api import TinyCodec
from engine.models.codec.checkpoint import seeded_codec
from engine.models.codec.model import CodecConfig, TinyTransformerCodec
from engine.models.codec.seed import save_seed_checkpoint


@pytest.fixture(scope="module")
def model():
    return seeded_codec(0)


@pytest.fixture(scope="module")
def audio():
    return torch.from_numpy(np.random.default_rng(1).standard_normal((3, 480)).astype(np.float32))


def seed_key_shapes(base):
    """State-dict names and shapes as the reference spec describes them (not from the code)."""
    enc = [min(64, base * 2**i) for i in range(4)]
    ins = [1] + enc[:-1]
    keys = {}
    for i in range(4):
        keys[f"encoder_convs.{i}.conv.weight"] = (enc[i], ins[i], 3)
        keys[f"encoder_convs.{i}.conv.bias"] = (enc[i],)
        keys[f"encoder_convs.{i}.norm.weight"] = (enc[i],)
        keys[f"encoder_convs.{i}.norm.bias"] = (enc[i],)
    keys.update({"pre_quant.conv.weight": (128, 64, 3), "pre_quant.conv.bias": (128,)})
    keys.update({"pre_quant.norm.weight": (128,), "pre_quant.norm.bias": (128,)})
    for j in range(2):
        keys[f"quantizers.{j}.embedding.weight"] = (128, 64)
    for i in range(4):
        p = f"transformer.{i}."
        keys.update({p + "attn.in_proj_weight": (384, 128), p + "attn.in_proj_bias": (384,)})
        keys.update({p + "attn.out_proj.weight": (128, 128), p + "attn.out_proj.bias": (128,)})
        for n in ("norm1", "norm2"):
            keys.update({p + n + ".weight": (128,), p + n + ".bias": (128,)})
        keys.update({p + "ffn.0.weight": (256, 128), p + "ffn.0.bias": (256,)})
        keys.update({p + "ffn.3.weight": (128, 256), p + "ffn.3.bias": (128,)})
    keys.update({"post_transformer.weight": (128, 128, 1), "post_transformer.bias": (128,)})
    dec = [enc[2], enc[1], enc[0], 16]
    for i, (a, b) in enumerate(zip([128] + dec[:-1], dec, strict=True)):
        keys[f"decoder_tconvs.{i}.weight"] = (a, b, 3)
        keys[f"decoder_tconvs.{i}.bias"] = (b,)
    keys.update({"post_decoder_final.weight": (1, 16, 1), "post_decoder_final.bias": (1,)})
    return keys


# -- config -------------------------------------------------------------------
def test_config_round_trips_through_a_dict():
    cfg = CodecConfig(enc_base=8, output_padding=True, dropout=0.0)
    d = cfg.to_dict()
    assert d["strides"] == [2, 2, 2, 3]
    assert CodecConfig.from_dict(d) == cfg
    assert cfg.downsample == 24 and cfg.frames_per_window == 20 and cfg.bits_per_token == 7


@pytest.mark.parametrize(
    "bad",
    [
        {"colour": 3},
        {"strides": [2, 0, 2, 3]},
        {"strides": 5},
        {"output_padding": "yes"},
        {"d_model": 96},
        {"window": 500},
        {"hop": 960},
        {"kernel": 4},
        {"enc_base": True},
        {"dropout": 1.5},
    ],
)
def test_config_from_dict_rejects_unknown_keys_and_bad_values(bad):
    with pytest.raises(ValueError):
        CodecConfig.from_dict({**CodecConfig().to_dict(), **bad})


@pytest.mark.parametrize("base", [16, 8])
def test_state_dict_names_and_shapes_are_the_seeds(base):
    m = TinyTransformerCodec(CodecConfig(enc_base=base))
    got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert got == seed_key_shapes(base)


# -- shapes -------------------------------------------------------------------
def test_encode_gives_20_frames_of_ints_in_range(model, audio):
    with torch.inference_mode():
        codes = model.encode(audio)
    assert codes.shape == (3, 2, 20) and codes.dtype == torch.int64
    assert codes.min() >= 0 and codes.max() < 128


def test_seed_decoder_makes_457_samples_then_23_zeros(model, audio):
    with torch.inference_mode():
        y = model.decode(model.encode(audio))
    assert y.shape == (3, 480)
    assert torch.all(y[:, 457:] == 0)
    assert torch.all(y[:, 456] != 0)


def test_output_padding_fills_all_480_samples(audio):
    m = seeded_codec(0, CodecConfig(output_padding=True))
    with torch.inference_mode():
        y = m.decode(m.encode(audio))
    assert y.shape == (3, 480)
    assert torch.all(y[:, 457:].abs().sum(dim=1) > 0)


def test_decode_rejects_codes_of_the_wrong_shape(model):
    with pytest.raises(ValueError):
        model.decode(torch.zeros(1, 3, 20, dtype=torch.long))


# -- layers -------------------------------------------------------------------
def test_attention_equals_multihead_attention_with_the_seeds_causal_mask(model):
    block = model.transformer[1]
    x = torch.randn(2, 20, 128)
    mask = torch.triu(torch.ones(20, 20, dtype=torch.bool), diagonal=1)
    with torch.inference_mode():
        ref, _ = block.attn(x, x, x, attn_mask=mask, need_weights=False)
        torch.testing.assert_close(block.self_attention(x), ref, atol=1e-5, rtol=1e-5)


def test_transformer_is_causal_over_latent_frames(model):
    z = torch.randn(1, 20, 128)
    z2 = z.clone()
    z2[:, 12:] += 1.0
    with torch.inference_mode():
        a, b = model.transformer(z), model.transformer(z2)
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert (a[:, 12:] - b[:, 12:]).abs().max() > 1e-3


def test_quantize_picks_the_nearest_row_per_half_and_passes_gradients(model):
    z = torch.randn(2, 128, 20, requires_grad=True)
    z_q, codes, commit = model.quantize(z)
    for j, q in enumerate(model.quantizers):
        half = z.detach()[:, 64 * j : 64 * (j + 1)].transpose(1, 2).double()
        d = torch.cdist(half, q.embedding.weight.detach().double()[None])
        assert torch.equal(codes[:, j], d.argmin(dim=-1))
    hard = model.codes_to_latent(codes)
    torch.testing.assert_close(z_q.detach(), hard)
    torch.testing.assert_close(commit, torch.mean((z.detach() - hard) ** 2))
    (z_q.sum() + commit).backward()
    assert z.grad is not None and torch.all(z.grad > 0.9)


def test_editing_the_codebook_in_place_changes_the_codes():
    m = seeded_codec(3)
    z = torch.randn(1, 128, 20)
    with torch.no_grad():
        m.quantizers[0].embedding.weight[77] = z[0, :64, 5]
        codes = m.nearest_codes(z)
    assert codes[0, 0, 5] == 77


def test_forward_trains_encoder_and_decoder_through_the_quantiser(audio):
    m = seeded_codec(0).train()
    out = m(audio)
    assert out.audio.shape == (3, 480) and out.codes.shape == (3, 2, 20)
    assert out.z_e.shape == out.z_q.shape == (3, 128, 20)
    (out.audio.pow(2).mean() + out.commit_loss).backward()
    assert m.encoder_convs[0].conv.weight.grad.abs().sum() > 0
    assert m.post_decoder_final.weight.grad.abs().sum() > 0


def test_seeded_init_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = seeded_codec(0), seeded_codec(0), seeded_codec(1)
    assert torch.equal(torch.rand(1), before)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert not torch.equal(a.quantizers[0].embedding.weight, c.quantizers[0].embedding.weight)
    assert not a.training


# -- TinyCodec (the seed's API) ------------------------------------------------
@pytest.fixture(scope="module")
def codec():
    with pytest.warns(UserWarning, match="SEEDED"):
        return TinyCodec()


def test_tinycodec_without_weights_warns_loudly(capsys):
    with pytest.warns(UserWarning, match="SEEDED RANDOM"):
        c = TinyCodec(device="cpu")
    assert "SEEDED RANDOM" in capsys.readouterr().err
    assert c.device == torch.device("cpu")


def test_encode_audio_gives_two_int_arrays_of_shape_b_by_20(codec):
    chunk = torch.randn(480)
    idx = codec.encode_audio(chunk)
    assert isinstance(idx, list) and len(idx) == 2
    for a in idx:
        assert isinstance(a, np.ndarray) and a.shape == (1, 20)
        assert np.issubdtype(a.dtype, np.integer) and a.min() >= 0 and a.max() < 128
    np.testing.assert_array_equal(idx[0], codec.encode_audio(chunk.numpy())[0])
    with torch.inference_mode():
        ref = codec.model.encode(chunk[None])
    np.testing.assert_array_equal(np.stack(idx, axis=1), ref.numpy())


def test_decode_audio_returns_the_480_sample_chunk(codec):
    chunk = np.random.default_rng(2).standard_normal(480).astype(np.float32)
    idx = codec.encode_audio(chunk)
    y = codec.decode_audio(idx, original_length=480)
    assert isinstance(y, torch.Tensor) and y.shape == (480,)
    with torch.inference_mode():
        ref = codec.model.decode(torch.from_numpy(np.stack(idx, axis=1)))[0]
    torch.testing.assert_close(y, ref)
    assert codec.decode_audio(idx, original_length=400).shape == (400,)
    longer = codec.decode_audio(idx, original_length=500)
    assert longer.shape == (500,) and torch.all(longer[480:] == 0)
    assert codec.decode_audio([i[0] for i in idx]).shape == (480,)


def test_batched_numpy_round_trip(codec):
    chunks = np.random.default_rng(3).standard_normal((4, 480)).astype(np.float32)
    idx = codec.encode_audio(chunks)
    assert [a.shape for a in idx] == [(4, 20), (4, 20)]
    y = codec.decode_audio(idx, original_length=480)
    assert y.shape == (4, 480)
    single = codec.decode_audio([a[2:3] for a in idx])
    torch.testing.assert_close(y[2], single, atol=1e-6, rtol=0)


def test_tinycodec_loads_a_seed_checkpoint(tmp_path):
    m = seeded_codec(7)
    save_seed_checkpoint(m, tmp_path / "tiny_transformer_best.pt", extra={"epoch": 131})
    c = TinyCodec(model_path=tmp_path / "tiny_transformer_best.pt")
    x = torch.randn(480)
    with torch.inference_mode():
        ref = m.encode(x[None])
    np.testing.assert_array_equal(np.stack(c.encode_audio(x), axis=1), ref.numpy())


@pytest.mark.parametrize(
    "idx",
    [
        [np.zeros((1, 20), np.int64)],
        [np.zeros((1, 20), np.int64), np.full((1, 20), 128)],
        [np.zeros((1, 20), np.int64), np.zeros((1, 19), np.int64)],
        [np.zeros((1, 20)), np.zeros((1, 20))],
    ],
)
def test_decode_audio_rejects_bad_indices(codec, idx):
    with pytest.raises(ValueError):
        codec.decode_audio(idx)


def test_encode_audio_rejects_bad_shapes(codec):
    with pytest.raises(ValueError):
        codec.encode_audio(np.zeros((2, 2, 480), np.float32))
    with pytest.raises(ValueError):
        codec.encode_audio(np.zeros(0, np.float32))
