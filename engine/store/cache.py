"""Where cached models live on disk: one folder per model.

    <root>/<name>/<filename>            the model file
    <root>/<name>/manifest.json         what it is and its recorded sha256
    <root>/<name>/<filename>.part       an interrupted download (resumable)
    <root>/<name>/<filename>.part.json  what the partial bytes came from
    <root>/.locks/<name>.lock           cross-process lock of that model

Locks live outside the model folder so that removing a model never deletes
a lock another process is waiting on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from engine.store.registry import check_name

ENV_VAR = "STREAMVOX_MODEL_DIR"
APP_NAME = "streamvox"
MANIFEST_NAME = "manifest.json"
PART_SUFFIX = ".part"


def default_root() -> Path:
    """The per-user cache folder for models (e.g. ``~/.cache/streamvox/models``)."""
    return Path(platformdirs.user_cache_dir(APP_NAME)) / "models"


def resolve_root(setting: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: the app setting if given, else ``$STREAMVOX_MODEL_DIR``, else the default.

    An explicit setting wins because the person chose it in the app; the
    environment variable serves scripts, CI and portable installs.
    """
    if setting not in (None, ""):
        return Path(setting).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return default_root()


@dataclass(frozen=True)
class ModelPaths:
    """The paths of one model inside the cache (nothing is created)."""

    folder: Path
    filename: str

    @property
    def file(self) -> Path:
        """The model file itself."""
        return self.folder / self.filename

    @property
    def manifest(self) -> Path:
        """The JSON manifest next to it."""
        return self.folder / MANIFEST_NAME

    @property
    def part(self) -> Path:
        """Partial download, kept across interruptions."""
        return self.folder / (self.filename + PART_SUFFIX)

    @property
    def part_info(self) -> Path:
        """Sidecar of the partial download (URL, ETag) that decides whether to resume."""
        return self.folder / (self.filename + PART_SUFFIX + ".json")


class CacheLayout:
    """Path arithmetic for a cache root; model names are validated first."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = resolve_root(root)

    def model_folder(self, name: str) -> Path:
        """Folder of model ``name`` (ValueError for unsafe names)."""
        return self.root / check_name(name)

    def paths(self, name: str, filename: str) -> ModelPaths:
        """All paths of model ``name`` stored as ``filename``."""
        if not filename or Path(filename).name != filename or filename.startswith("."):
            raise ValueError(f"invalid model file name {filename!r}")
        return ModelPaths(self.model_folder(name), filename)

    def lock_path(self, name: str) -> Path:
        """The lock file guarding model ``name``."""
        return self.root / ".locks" / f"{check_name(name)}.lock"

    def cached_names(self) -> list[str]:
        """Names of the model folders present in the cache (sorted)."""
        if not self.root.is_dir():
            return []
        names = []
        for child in self.root.iterdir():
            if child.is_dir() and not child.name.startswith("."):
                try:
                    names.append(check_name(child.name))
                except ValueError:
                    continue  # not ours: leave it alone
        return sorted(names)
