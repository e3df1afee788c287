"""The files of one model's cache folder: names, the model file, temporaries, clean-up."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from engine.store.cache import ModelPaths
from engine.store.registry import ModelEntry, check_name

#: Temporary copy of an import in progress (``.import-<hex>.tmp``).
IMPORT_TMP_GLOB = ".import-*.tmp"
_UNSAFE_CHARS = re.compile(r"[^a-z0-9._-]+")


def name_from_filename(filename: str) -> str:
    """A model name derived from a file name: ``My Codec.pt`` -> ``my-codec``."""
    stem = Path(filename).stem.lower()
    name = _UNSAFE_CHARS.sub("-", stem).strip("-._")[:64] or "model"
    return check_name(name)


def safe_filename(filename: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._=-]+", "_", filename).lstrip(".") or "model.bin"
    if name == "manifest.json" or is_temp(name):
        name = "model-" + name
    return name


def is_temp(name: str) -> bool:
    return name.endswith((".part", ".part.json", ".tmp"))


def is_model_name(path: Path) -> bool:
    return (
        path.name != "manifest.json" and not path.name.startswith(".") and not is_temp(path.name)
    )


def manual_hint(name: str, entry: ModelEntry, paths: ModelPaths) -> str:
    return (
        f"To install it by hand: download {entry.url} (e.g. in a web browser) and either "
        f"run `streamvox models import FILE --name {name}` or save it as {paths.file}"
    )


def copy_hashing(src: Path, dst: Path) -> str:
    hasher = hashlib.sha256()
    with src.open("rb") as fin, dst.open("wb") as fout:
        for block in iter(lambda: fin.read(1 << 20), b""):
            hasher.update(block)
            fout.write(block)
        fout.flush()
        os.fsync(fout.fileno())
    return hasher.hexdigest()


def model_files(folder: Path) -> list[Path]:
    """The model files in a cache folder (not the manifest, temporaries or partials)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and is_model_name(p))


def remove_other_files(paths: ModelPaths) -> None:
    """After a replacing import: drop the previous weights stored under another file name."""
    for other in model_files(paths.folder):
        if other.name != paths.filename:
            other.unlink(missing_ok=True)
            for partial in (".part", ".part.json"):
                other.with_name(other.name + partial).unlink(missing_ok=True)


def broken_reason(folder: Path, exc: Exception) -> str:
    """Why a cache folder cannot be listed as a model, in a few words."""
    try:
        files = model_files(folder)
    except OSError as err:
        return f"unreadable folder {folder} ({err.strerror or err})"
    if not files:
        return f"no model file in {folder}"
    if len(files) > 1:
        return f"{len(files)} model files and no manifest in {folder}"
    return f"unusable cache entry in {folder} ({exc})"


def remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (or already gone): keep it
