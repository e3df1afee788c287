"""`import`: a local file enters the cache only after it loaded through the safe loaders."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from engine.models.errors import CheckpointError, UnsafeCheckpointError
from engine.store import STATUS_CACHED, ModelEntry, ModelStore, Registry, StoreError
from engine.store.registry import FORMAT_LIGHTNING_VOCOS, FORMAT_SEED_CODEC, FORMAT_STREAMVOX
from tests.store.helpers import sha256, tree


class Payload:
    """Unpickling this would create a directory: the proof that code ran."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def _registry(pinned_sha: str | None = None) -> Registry:
    common = {"description": "", "licence": "", "source": "", "url": "http://127.0.0.1:9/x"}
    return Registry(
        [
            ModelEntry(
                "seed-codec", "codec", FORMAT_SEED_CODEC, "tiny_transformer_best.pt", **common
            ),
            ModelEntry(
                "streaming-vocos", "vocoder", FORMAT_LIGHTNING_VOCOS, "epoch=3.ckpt", **common
            ),
            ModelEntry(
                "pinned-codec",
                "codec",
                FORMAT_SEED_CODEC,
                "pinned.pt",
                sha256=pinned_sha or "0" * 64,
                **common,
            ),
            ModelEntry(
                "default-codec",
                "codec",
                FORMAT_STREAMVOX,
                "codec.safetensors",
                description="",
                licence="",
                source="",
                bundled=Path("/nonexistent/codec.safetensors"),
            ),
        ]
    )


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "cache", registry=_registry())


def test_import_seed_codec_under_its_registry_name(
    store: ModelStore, seed_codec_file: Path
) -> None:
    info = store.import_file(seed_codec_file, name="seed-codec")

    assert (info.status, info.kind, info.format) == (STATUS_CACHED, "codec", FORMAT_SEED_CODEC)
    assert info.path == store.root / "seed-codec" / "tiny_transformer_best.pt"
    assert info.sha256 == sha256(seed_codec_file.read_bytes())
    assert info.hash_origin == "first-use"
    assert info.source == f"imported from {seed_codec_file.resolve()}"
    assert store.resolve("seed-codec").read_bytes() == seed_codec_file.read_bytes()


def test_import_detects_kind_and_derives_the_name(
    store: ModelStore, streamvox_codec_file: Path, lightning_vocos_file: Path
) -> None:
    codec = store.import_file(streamvox_codec_file)  # "my codec.safetensors"
    vocoder = store.import_file(lightning_vocos_file)  # "epoch=3.ckpt"

    assert (codec.name, codec.kind, codec.format) == ("my-codec", "codec", FORMAT_STREAMVOX)
    assert (vocoder.name, vocoder.kind) == ("epoch-3", "vocoder")
    assert vocoder.format == FORMAT_LIGHTNING_VOCOS
    assert store.load("my-codec").config.latent_dim == 16
    assert store.load("epoch-3").config.dim == 16


def test_import_refuses_a_truncated_file(
    store: ModelStore, seed_codec_file: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.pt"
    cut.write_bytes(seed_codec_file.read_bytes()[: seed_codec_file.stat().st_size // 2])

    with pytest.raises(CheckpointError, match="truncated|corrupt"):
        store.import_file(cut, name="seed-codec")

    assert tree(store.root / "seed-codec") == []


def test_import_refuses_a_truncated_safetensors_file(
    store: ModelStore, streamvox_codec_file: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(streamvox_codec_file.read_bytes()[:-1000])

    with pytest.raises(CheckpointError):
        store.import_file(cut)

    assert tree(store.root / "cut") == []


def test_import_refuses_a_vocoder_under_a_codec_name(
    store: ModelStore, lightning_vocos_file: Path
) -> None:
    with pytest.raises(CheckpointError, match="is a vocoder model .* wrong architecture"):
        store.import_file(lightning_vocos_file, name="seed-codec")

    assert tree(store.root / "seed-codec") == []


def test_import_refuses_wrong_shapes(
    store: ModelStore, seed_codec_file: Path, tmp_path: Path
) -> None:
    ckpt = torch.load(seed_codec_file, weights_only=True)
    ckpt["model_state_dict"]["post_transformer.weight"] = torch.zeros(64, 128, 1)
    bad = tmp_path / "bad_shape.pt"
    torch.save(ckpt, bad)

    with pytest.raises(CheckpointError, match="post_transformer.weight expected"):
        store.import_file(bad, name="seed-codec")

    assert tree(store.root / "seed-codec") == []


@pytest.mark.parametrize("flavour", ["torch-zip", "raw-pickle", "lightning"])
@pytest.mark.parametrize("kind", [None, "codec", "vocoder"])
def test_import_refuses_a_malicious_file_without_running_it(
    store: ModelStore, tmp_path: Path, flavour: str, kind: str | None
) -> None:
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    if flavour == "torch-zip":
        torch.save({"model_state_dict": Payload(str(marker))}, evil)
    elif flavour == "raw-pickle":
        evil.write_bytes(pickle.dumps(Payload(str(marker)), protocol=2))
    else:
        torch.save({"state_dict": {}, "hyper_parameters": Payload(str(marker))}, evil)

    with pytest.raises(UnsafeCheckpointError):
        store.import_file(evil, name="evil", kind=kind)

    assert not marker.exists()
    assert tree(store.root / "evil") == []


def test_import_does_not_overwrite_unless_asked(
    store: ModelStore, seed_codec_file: Path, tmp_path: Path
) -> None:
    from engine.models.codec.checkpoint import seeded_codec
    from engine.models.codec.seed import save_seed_checkpoint

    store.import_file(seed_codec_file, name="seed-codec")
    other = tmp_path / "other.pt"
    save_seed_checkpoint(seeded_codec(5), other)

    with pytest.raises(StoreError, match="already in the cache"):
        store.import_file(other, name="seed-codec")
    info = store.import_file(other, name="seed-codec", replace=True)

    assert info.sha256 == sha256(other.read_bytes())
    assert store.resolve("seed-codec").read_bytes() == other.read_bytes()


def test_import_checks_a_published_hash(tmp_path: Path, seed_codec_file: Path) -> None:
    from engine.models.codec.checkpoint import seeded_codec
    from engine.models.codec.seed import save_seed_checkpoint

    store = ModelStore(tmp_path / "cache", registry=_registry(sha256(seed_codec_file.read_bytes())))
    other = tmp_path / "other.pt"
    save_seed_checkpoint(seeded_codec(9), other)

    with pytest.raises(CheckpointError, match="differs from the published"):
        store.import_file(other, name="pinned-codec")

    assert tree(store.root / "pinned-codec") == []
    assert store.import_file(seed_codec_file, name="pinned-codec").hash_origin == "registry"


def test_import_refuses_bundled_names_missing_files_and_bad_kinds(
    store: ModelStore, seed_codec_file: Path, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="bundled"):
        store.import_file(seed_codec_file, name="default-codec")
    with pytest.raises(CheckpointError, match="file not found"):
        store.import_file(tmp_path / "absent.pt")
    with pytest.raises(ValueError, match="not a vocoder"):
        store.import_file(seed_codec_file, name="seed-codec", kind="vocoder")
    with pytest.raises(ValueError, match="kind must be"):
        store.import_file(seed_codec_file, kind="synth")


def test_replacing_with_a_differently_named_file_leaves_only_the_new_one(
    store: ModelStore, seed_codec_file: Path, streamvox_codec_file: Path
) -> None:
    """Issue 15, item 7: the old weights file used to stay beside the new one."""
    store.import_file(seed_codec_file, name="mine")
    info = store.import_file(streamvox_codec_file, name="mine", replace=True)

    assert tree(store.root / "mine") == ["manifest.json", info.path.name]
    assert info.path.read_bytes() == streamvox_codec_file.read_bytes()
    assert store.info("mine").status == "cached"


def test_a_hand_placed_file_under_another_name_is_not_silently_kept(
    store: ModelStore, seed_codec_file: Path, streamvox_codec_file: Path
) -> None:
    folder = store.root / "mine"
    folder.mkdir(parents=True)
    (folder / "placed.pt").write_bytes(seed_codec_file.read_bytes())
    with pytest.raises(StoreError, match="already in the cache"):
        store.import_file(streamvox_codec_file, name="mine")
