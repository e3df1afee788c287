"""Vocos checkpoints: seed Lightning files (foreign classes), our safetensors, strict errors."""

import json
import os
import sys
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from engine.models.errors import CheckpointError, UnsafeCheckpointError
from engine.models.vocos.checkpoint import (
    load_vocos,
    save_vocos,
    seeded_vocos,
)
from engine.models.vocos.generator import VocosConfig
from engine.models.vocos.seed import save_lightning_checkpoint, write_lightning_checkpoint

TINY = VocosConfig(dim=32, intermediate_dim=48, n_layers=2, layer_scale_init=0.5)


@pytest.fixture(scope="module")
def model():
    return seeded_vocos(TINY, seed=4)


def _same_output(a, b):
    x = 0.3 * torch.randn(2, 320 * 6 + 17, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(a.audio_offline(x), b.audio_offline(x), atol=0, rtol=0)


# ----- seed Lightning format ------------------------------------------------------


def test_lightning_checkpoint_with_foreign_classes_loads_identically(model, tmp_path):
    path = tmp_path / "epoch=3.ckpt"
    save_lightning_checkpoint(model, path)
    assert "src.models.utils.data_classes" not in sys.modules
    with zipfile.ZipFile(path) as zf:
        pkl = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
    assert b"src.models.utils.data_classes" in pkl and b"VocosVocoderArgs" in pkl
    assert b"discriminator." in pkl
    with pytest.raises(Exception, match="(?i)weights only"):  # torch's own safe loader gives up
        torch.load(path, weights_only=True)
    loaded = load_vocos(path)
    assert loaded.config == TINY
    assert loaded.weights_info.format == "lightning"
    assert loaded.weights_info.notes == ()
    assert not loaded.training
    assert "src" not in sys.modules  # the foreign module was never imported
    _same_output(loaded, model)


def test_lightning_checkpoint_with_plain_dict_hparams(model, tmp_path):
    path = tmp_path / "plain.ckpt"
    save_lightning_checkpoint(model, path, foreign_hparams=False)
    loaded = load_vocos(path)
    assert loaded.config == TINY
    _same_output(loaded, model)


def test_seed_size_config_is_read_from_hyper_parameters(tmp_path):
    path = tmp_path / "seed.ckpt"
    save_lightning_checkpoint(seeded_vocos(), path)
    loaded = load_vocos(path)
    assert loaded.config == VocosConfig()
    assert loaded.weights_info.notes == ()


def test_sizes_not_visible_in_shapes_come_from_hyper_parameters(tmp_path):
    config = VocosConfig(dim=16, intermediate_dim=32, n_layers=1, n_fft=640, hop=160)
    path = tmp_path / "hop160.ckpt"
    save_lightning_checkpoint(seeded_vocos(config), path)
    assert load_vocos(path).config.hop == 160  # a shape cannot tell the hop


def test_missing_hyper_parameters_are_inferred_from_shapes_and_said(model, tmp_path, caplog):
    path = tmp_path / "nohp.ckpt"
    sd = {k.replace("backbone.", "decoder.0.", 1).replace("head.", "decoder.1.", 1): v
          for k, v in model.state_dict().items()}  # fmt: skip
    torch.save({"state_dict": {**sd, "discriminator.x": torch.ones(2)}, "epoch": 1}, path)
    loaded = load_vocos(path)
    assert loaded.config.dim == 32 and loaded.config.n_layers == 2
    assert loaded.config.intermediate_dim == 48 and loaded.config.hop == 320
    notes = loaded.weights_info.notes
    assert any("no readable hyper_parameters" in n for n in notes)
    assert any(n.startswith("hop=320") for n in notes)
    assert "inferred" in caplog.text or "taken from" in caplog.text
    _same_output(loaded, model)


def test_hparams_that_contradict_the_tensors_are_an_error(model, tmp_path):
    path = tmp_path / "lie.ckpt"
    wrong = VocosConfig(dim=64, intermediate_dim=96, n_layers=2)
    write_lightning_checkpoint(model.state_dict(), wrong, path, foreign=True)
    with pytest.raises(CheckpointError, match=r"lie\.ckpt.*decoder\.0\..*shape"):
        load_vocos(path)


def test_missing_and_unexpected_generator_keys_are_named(model, tmp_path):
    sd = dict(model.state_dict())
    del sd["backbone.convnext.1.gamma"]
    sd["head.extra.weight"] = torch.ones(1)
    path = tmp_path / "keys.ckpt"
    write_lightning_checkpoint(sd, TINY, path, foreign=False)
    with pytest.raises(CheckpointError) as err:
        load_vocos(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "decoder.0.convnext.1.gamma" in msg and "decoder.1.extra.weight" in msg


def test_malicious_lightning_checkpoint_is_refused(model, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.ckpt"
    sd = {"decoder.0." + k[len("backbone.") :]: v for k, v in model.state_dict().items()}
    torch.save({"state_dict": sd, "hyper_parameters": {"vocoder_args": Evil()}}, path)
    with pytest.raises(UnsafeCheckpointError, match="refuses to call") as err:
        load_vocos(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_codec_checkpoint_is_the_wrong_kind(tmp_path):
    path = tmp_path / "tiny_transformer_best.pt"
    torch.save({"model_state_dict": {"pre_quant.conv.weight": torch.ones(2)}}, path)
    with pytest.raises(CheckpointError, match="codec"):
        load_vocos(path)


# ----- our safetensors format ----------------------------------------------------------


def test_safetensors_round_trip(model, tmp_path):
    path = tmp_path / "vocos.safetensors"
    save_vocos(model, path, info={"trained_steps": 5, "note": "test"})
    assert [p.name for p in tmp_path.iterdir()] == ["vocos.safetensors"]  # no temp left
    loaded = load_vocos(path)
    assert loaded.config == TINY
    assert loaded.weights_info.info["trained_steps"] == 5
    assert loaded.weights_info.kind == "vocos"
    _same_output(loaded, model)


def test_half_precision_file_is_half_the_size_and_sounds_the_same(model, tmp_path):
    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    save_vocos(model, full)
    save_vocos(model, half, dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    a, b = load_vocos(full), load_vocos(half)
    assert all(p.dtype == torch.float32 for p in b.parameters())
    x = 0.3 * torch.randn(1, 320 * 8, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ya, yb = a.audio_offline(x), b.audio_offline(x)
    snr = 10 * torch.log10(ya.pow(2).sum() / (ya - yb).pow(2).sum())
    assert 50 < snr < 200  # rounded (not bit-exact), but far below audibility
    with pytest.raises(ValueError, match="dtype"):
        save_vocos(model, tmp_path / "x.safetensors", dtype=torch.bfloat16)


def test_save_vocos_rejects_reserved_or_unserialisable_info(model, tmp_path):
    with pytest.raises(ValueError):
        save_vocos(model, tmp_path / "a.safetensors", info={"kind": "codec"})
    with pytest.raises(ValueError):
        save_vocos(model, tmp_path / "b.safetensors", info={"x": object()})
    assert not list(tmp_path.iterdir())


def _write_ours(path, tensors, meta):
    save_file(tensors, str(path), metadata={"streamvox": json.dumps(meta)} if meta else None)


def test_wrong_kind_safetensors(model, tmp_path):
    path = tmp_path / "codec.safetensors"
    _write_ours(path, {"x": torch.ones(1)}, {"kind": "codec", "config": {}})
    with pytest.raises(CheckpointError, match=r"codec\.safetensors.*'codec' model"):
        load_vocos(path)
    bare = tmp_path / "bare.safetensors"
    _write_ours(bare, {"x": torch.ones(1)}, None)
    with pytest.raises(CheckpointError, match="streamvox"):
        load_vocos(bare)


def test_wrong_shape_and_nan_in_safetensors(model, tmp_path):
    meta = {"kind": "vocos", "config": TINY.to_dict()}
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["head.out.weight"] = torch.zeros(10, 32)
    _write_ours(tmp_path / "shape.safetensors", sd, meta)
    with pytest.raises(CheckpointError, match=r"head\.out\.weight has shape \(10, 32\)"):
        load_vocos(tmp_path / "shape.safetensors")
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["head.out.bias"][3] = float("nan")
    _write_ours(tmp_path / "nan.safetensors", sd, meta)
    with pytest.raises(CheckpointError, match="NaN"):
        load_vocos(tmp_path / "nan.safetensors")


def test_bad_config_in_metadata(model, tmp_path):
    path = tmp_path / "cfg.safetensors"
    _write_ours(path, dict(model.state_dict()), {"kind": "vocos", "config": {"dim": -3}})
    with pytest.raises(CheckpointError, match="config"):
        load_vocos(path)


# ----- unreadable files ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["vocos.safetensors", "epoch=3.ckpt"])
def test_truncated_files(model, tmp_path, name):
    path = tmp_path / name
    if name.endswith(".safetensors"):
        save_vocos(model, path)
    else:
        save_lightning_checkpoint(model, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError) as err:
        load_vocos(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "empty"), (os.urandom(4096), "not a Vocos checkpoint"), (b"hello world", "neither")],
)
def test_empty_and_random_files(tmp_path, content, problem):
    path = tmp_path / "weights.bin"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=problem) as err:
        load_vocos(path)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_vocos(tmp_path / "nope.ckpt")
