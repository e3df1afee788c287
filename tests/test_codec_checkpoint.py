import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from engine.models.codec.checkpoint import (
    load_codec,
    save_codec,
    seeded_codec,
)
from engine.models.codec.model import CodecConfig
from engine.models.codec.seed import save_seed_checkpoint
from engine.models.errors import CheckpointError, UnsafeCheckpointError


@pytest.fixture(scope="module")
def model():
    return seeded_codec(5)


@pytest.fixture(scope="module")
def audio():
    return torch.randn(2, 480, generator=torch.Generator().manual_seed(9))


def round_trip(m, x):
    with torch.inference_mode():
        return m.decode(m.encode(x))


def seed_state(m):
    """A seed training-model state dict, as torch.save'd by the seed's training script."""
    return {k: v.clone() for k, v in m.state_dict().items()}


def write_seed(path, state, **extra):
    torch.save({"model_state_dict": state, **extra}, path)
    return path


def load_error(path, cls=CheckpointError):
    with pytest.raises(cls) as info:
        load_codec(path)
    assert Path(path).name in str(info.value)
    return str(info.value)


# -- the seed format --------------------------------------------------------------
@pytest.mark.parametrize("base", [16, 8])
def test_seed_checkpoint_loads_both_variants(tmp_path, base, audio):
    m = seeded_codec(1, CodecConfig(enc_base=base))
    path = tmp_path / "tiny_transformer_best.pt"
    optim = {"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": [{"lr": 1e-4}]}
    save_seed_checkpoint(m, path, extra={"epoch": 131, "optimizer_state_dict": optim})
    raw = torch.load(path, weights_only=True)
    assert raw["epoch"] == 131
    assert any(k.startswith("skip_convs.") for k in raw["model_state_dict"])
    assert "quantizers.1.ema_w" in raw["model_state_dict"]

    loaded = load_codec(path)
    assert loaded.config.enc_base == base and not loaded.config.output_padding
    assert not loaded.training
    assert torch.equal(round_trip(loaded, audio), round_trip(m, audio))


def test_seed_checkpoint_without_training_extras_loads(tmp_path, model, audio):
    path = tmp_path / "plain.pt"
    save_seed_checkpoint(model, path, skip_convs=False, ema_buffers=False)
    assert torch.equal(round_trip(load_codec(path), audio), round_trip(model, audio))


def test_seed_format_cannot_hold_output_padding(tmp_path):
    with pytest.raises(ValueError):
        save_seed_checkpoint(seeded_codec(0, CodecConfig(output_padding=True)), tmp_path / "x.pt")


# -- our safetensors format ---------------------------------------------------------
def test_safetensors_round_trip_keeps_config_and_info(tmp_path, audio):
    m = seeded_codec(2, CodecConfig(output_padding=True))
    path = tmp_path / "codec.safetensors"
    save_codec(m, path, info={"steps": 1000, "commit": "abc123"})
    loaded = load_codec(path)
    assert loaded.config == m.config
    assert torch.equal(round_trip(loaded, audio), round_trip(m, audio))
    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()["streamvox"])
    assert meta["kind"] == "tiny_codec" and meta["info"]["commit"] == "abc123"
    assert "saved_at" in meta
    assert sorted(os.listdir(tmp_path)) == ["codec.safetensors"]


def test_format_is_found_from_the_bytes_not_the_suffix(tmp_path, model, audio):
    path = tmp_path / "weights.bin"
    save_codec(model, path)
    assert torch.equal(round_trip(load_codec(path), audio), round_trip(model, audio))


def test_save_replaces_atomically_and_cleans_up_on_failure(tmp_path, model):
    path = tmp_path / "codec.safetensors"
    save_codec(model, path, info={"v": 1})
    with pytest.raises(ValueError):
        save_codec(model, path, info={"bad": object()})
    assert sorted(os.listdir(tmp_path)) == ["codec.safetensors"]
    save_codec(model, path, info={"v": 2})
    with safe_open(str(path), "pt") as f:
        assert json.loads(f.metadata()["streamvox"])["info"] == {"v": 2}


# -- strict errors --------------------------------------------------------------
def test_missing_key_is_named(tmp_path, model):
    state = seed_state(model)
    del state["transformer.2.norm1.bias"]
    msg = load_error(write_seed(tmp_path / "missing.pt", state))
    assert "missing keys" in msg and "transformer.2.norm1.bias" in msg


def test_unexpected_key_is_named(tmp_path, model):
    state = seed_state(model)
    state["decoder_tconvs.4.weight"] = torch.zeros(16, 16, 3)
    msg = load_error(write_seed(tmp_path / "unexpected.pt", state))
    assert "unexpected keys" in msg and "decoder_tconvs.4.weight" in msg


def test_wrong_shape_shows_expected_and_found(tmp_path, model):
    state = seed_state(model)
    state["post_transformer.weight"] = torch.zeros(128, 128, 3)
    msg = load_error(write_seed(tmp_path / "shape.pt", state))
    assert "post_transformer.weight expected (128, 128, 1), found (128, 128, 3)" in msg


def test_unknown_encoder_width_is_refused(tmp_path, model):
    state = seed_state(model)
    state["encoder_convs.0.conv.weight"] = torch.zeros(12, 1, 3)
    msg = load_error(write_seed(tmp_path / "width.pt", state))
    assert "(12, 1, 3)" in msg and "(8, 1, 3)" in msg


def test_non_finite_weights_are_refused(tmp_path, model):
    state = seed_state(model)
    state["pre_quant.norm.weight"][3] = float("nan")
    msg = load_error(write_seed(tmp_path / "nan.pt", state))
    assert "pre_quant.norm.weight" in msg and "NaN" in msg


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (os.urandom(4096), "neither a PyTorch checkpoint nor a safetensors file"),
        (b"", "empty"),
        (b"hello, not a model\n", "neither a PyTorch checkpoint"),
    ],
)
def test_files_that_are_not_checkpoints(tmp_path, content, expect):
    path = tmp_path / "junk.pt"
    path.write_bytes(content)
    assert expect in load_error(path)


def test_truncated_seed_checkpoint(tmp_path, model):
    full = tmp_path / "full.pt"
    save_seed_checkpoint(model, full)
    cut = tmp_path / "cut.pt"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated" in load_error(cut)


def test_truncated_safetensors(tmp_path, model):
    full = tmp_path / "full.safetensors"
    save_codec(model, full)
    cut = tmp_path / "cut.safetensors"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt" in load_error(cut)


def test_missing_file_and_directory(tmp_path):
    assert "not found" in load_error(tmp_path / "absent.pt")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_codec(tmp_path)


class Payload:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["pickle-v2", "pickle-v4", "torch-zip", "torch-legacy"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, how):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    obj = {"model_state_dict": Payload(marker)}
    if how.startswith("pickle"):
        path.write_bytes(pickle.dumps(obj, protocol=int(how[-1])))
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=how == "torch-zip")
    msg = load_error(path, UnsafeCheckpointError)
    assert "system" in msg and "Nothing from the file was run" in msg
    assert not marker.exists()


def test_a_vocoder_lightning_checkpoint_is_the_wrong_kind(tmp_path):
    path = tmp_path / "epoch=3.ckpt"
    torch.save({"state_dict": {"decoder.0.norm.weight": torch.ones(4)}, "epoch": 3}, path)
    assert "Lightning" in load_error(path)


def test_a_safetensors_file_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "vocos.safetensors"
    meta = {"streamvox": json.dumps({"kind": "vocos", "config": {}})}
    save_file({"w": torch.zeros(2)}, str(path), metadata=meta)
    msg = load_error(path)
    assert "'vocos'" in msg and "tiny_codec" in msg


def test_a_foreign_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    assert "without 'streamvox' metadata" in load_error(path)


def test_a_bad_config_in_metadata_is_refused(tmp_path, model):
    path = tmp_path / "badcfg.safetensors"
    save_codec(model, path)
    with safe_open(str(path), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        meta = json.loads(f.metadata()["streamvox"])
    meta["config"]["wings"] = 2
    save_file(tensors, str(path), metadata={"streamvox": json.dumps(meta)})
    msg = load_error(path)
    assert "invalid codec config" in msg and "wings" in msg


def test_safetensors_keys_are_checked_against_the_recorded_config(tmp_path, model):
    path = tmp_path / "mismatch.safetensors"
    save_codec(model, path)
    with safe_open(str(path), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        meta = f.metadata()
    tensors["skip_convs.0.weight"] = torch.zeros(64, 128, 1)
    save_file(tensors, str(path), metadata=meta)
    assert "unexpected keys: skip_convs.0.weight" in load_error(path)


@pytest.mark.parametrize(
    ("obj", "expect"),
    [
        ([1, 2, 3], "holds a list"),
        ({"model_state_dict": [torch.zeros(1)]}, "'model_state_dict' is not a dict"),
        ({"model_state_dict": {"encoder_convs.0.conv.weight": 3}}, "not finite float tensors"),
        ({"epoch": 3}, "no 'model_state_dict' key; found keys: epoch"),
    ],
)
def test_checkpoints_of_the_wrong_structure(tmp_path, obj, expect):
    path = tmp_path / "odd.pt"
    torch.save(obj, path)
    assert expect in load_error(path)
