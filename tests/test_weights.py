"""One weights format for both models (engine.models.weights): layout, older files, typed info."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from engine import resources
from engine.models.codec.checkpoint import load_codec, save_codec, seeded_codec
from engine.models.errors import CheckpointError
from engine.models.vocos.checkpoint import load_vocos, save_vocos, seeded_vocos
from engine.models.vocos.generator import VocosConfig
from engine.models.weights import WeightsInfo, read_info, recorded_delay, sniff

TINY = VocosConfig(dim=32, intermediate_dim=48, n_layers=2, layer_scale_init=0.5)


def _meta(path):
    with safe_open(str(path), "pt") as f:
        return json.loads(f.metadata()["streamvox"])


def test_both_models_write_one_layout(tmp_path):
    save_codec(seeded_codec(1), tmp_path / "c.safetensors", {"output_delay_samples": 5})
    save_vocos(seeded_vocos(TINY), tmp_path / "v.safetensors", {"output_delay_samples": 64})
    for name, kind, delay in (("c", "tiny_codec", 5), ("v", "vocos", 64)):
        meta = _meta(tmp_path / f"{name}.safetensors")
        assert set(meta) == {"kind", "format_version", "config", "info", "saved_at"}
        assert meta["kind"] == kind and meta["info"] == {"output_delay_samples": delay}
        info = read_info(tmp_path / f"{name}.safetensors")
        assert (info.kind, info.format, info.output_delay) == (kind, "streamvox", delay)


def test_an_older_vocos_file_with_its_info_next_to_the_config_still_loads(tmp_path):
    model = seeded_vocos(TINY)
    path = tmp_path / "old.safetensors"
    state = {k: v for k, v in model.state_dict().items() if "overlap_add" not in k}
    flat = {"kind": "vocos", "format_version": 1, "config": TINY.to_dict(), "steps": 7,
            "output_delay_samples": 64, "notes": []}  # fmt: skip
    save_file(state, str(path), metadata={"streamvox": json.dumps(flat)})
    loaded = load_vocos(path)
    info = loaded.weights_info
    assert (info.format, info.output_delay, info.steps) == ("streamvox", 64, 7)
    assert recorded_delay(loaded) == 64


BUNDLED = sorted(p.name for p in resources.WEIGHTS_DIR.glob("*.safetensors"))


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_files_load_with_the_delay_they_record(name):
    path = resources.WEIGHTS_DIR / name
    info = read_info(path)
    model = (load_codec if info.kind == "tiny_codec" else load_vocos)(path)
    assert model.weights_info == info
    assert info.output_delay == _meta(path).get("info", _meta(path)).get("output_delay_samples", 0)


def test_models_made_in_memory_record_no_delay():
    assert recorded_delay(seeded_codec(0)) == 0
    assert seeded_vocos(TINY).weights_info == WeightsInfo("vocos", "seeded", info={"seed": 0})


def test_a_bad_recorded_delay_is_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    save_codec(seeded_codec(1), path, {"output_delay_samples": "soon"})
    with pytest.raises(CheckpointError, match="output_delay_samples 'soon'"):
        load_codec(path)


def test_sniff_names_the_model_it_wanted(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="not a Vocos checkpoint"):
        sniff(junk, "Vocos")
    torch.save({"x": torch.zeros(1)}, tmp_path / "t.pt")
    assert sniff(tmp_path / "t.pt", "codec") == "torch"
    assert read_info(tmp_path / "t.pt") is None
