"""What the store knows of one model: its row in the models list and the manifest it records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.store.cache import ModelPaths
from engine.store.download import sha256_file
from engine.store.errors import IntegrityError
from engine.store.manifest import HASH_FIRST_USE, HASH_FROM_REGISTRY, Manifest, now_utc
from engine.store.registry import ModelEntry
from engine.store.validate import Validated

STATUS_BUNDLED = "bundled"
STATUS_CACHED = "cached"
#: A file is in the cache folder but was never checked (placed there by hand).
STATUS_UNVERIFIED = "unverified"
STATUS_NOT_DOWNLOADED = "not downloaded"
#: A bundled file that is absent from this installation.
STATUS_MISSING = "missing"
#: A cache folder that holds no usable model (empty, several files, bad manifest).
STATUS_BROKEN = "broken"


@dataclass(frozen=True)
class ModelInfo:
    """One row of the models list (what the CLI prints and the GUI shows)."""

    name: str
    kind: str
    format: str
    status: str
    path: Path | None
    description: str = ""
    licence: str = ""
    source: str = ""
    url: str | None = None
    size: int | None = None
    sha256: str | None = None
    hash_origin: str | None = None
    date: str | None = None
    partial_bytes: int = 0

    @property
    def available(self) -> bool:
        """True when ``resolve`` can return a file without a download."""
        return self.status in (STATUS_BUNDLED, STATUS_CACHED, STATUS_UNVERIFIED)

    @property
    def downloadable(self) -> bool:
        """True when the registry knows where to fetch the file."""
        return self.url is not None


def info_from(entry: ModelEntry | None, manifest: Manifest | None, name: str) -> ModelInfo:
    """Registry facts first, then what the manifest recorded."""
    kind = entry.kind if entry is not None else (manifest.kind if manifest else "unknown")
    fmt = manifest.format if manifest else (entry.format if entry else "unknown")
    return ModelInfo(
        name=name,
        kind=kind,
        format=fmt,
        status=STATUS_NOT_DOWNLOADED,
        path=None,
        description=entry.description if entry else "imported model",
        licence=(entry.licence if entry else "") or (manifest.licence if manifest else ""),
        source=manifest.source if manifest else (entry.source if entry else ""),
        url=entry.url if entry else None,
        size=manifest.size if manifest else (entry.size if entry else None),
        sha256=manifest.sha256 if manifest else (entry.sha256 if entry else None),
        hash_origin=manifest.hash_origin if manifest else None,
        date=manifest.date if manifest else None,
    )


def bundled_info(entry: ModelEntry) -> ModelInfo:
    assert entry.bundled is not None
    present = entry.bundled.is_file()
    return ModelInfo(
        name=entry.name,
        kind=entry.kind,
        format=entry.format,
        status=STATUS_BUNDLED if present else STATUS_MISSING,
        path=entry.bundled if present else None,
        description=entry.description,
        licence=entry.licence,
        source=entry.source,
        size=entry.bundled.stat().st_size if present else None,
    )


def verify_against(path: Path, manifest: Manifest, entry: ModelEntry | None) -> None:
    """The full sha256 (and size) against the manifest, and the manifest against the registry."""
    expected = manifest.sha256
    if entry is not None and entry.sha256 and entry.sha256 != expected:
        raise IntegrityError(path, entry.sha256, expected)
    digest = sha256_file(path)
    if digest != expected or path.stat().st_size != manifest.size:
        raise IntegrityError(path, expected, digest)


def hash_origin(entry: ModelEntry, old: Manifest | None) -> str:
    if entry.sha256:
        return HASH_FROM_REGISTRY
    return old.hash_origin if old is not None else HASH_FIRST_USE


def new_manifest(
    name: str,
    entry: ModelEntry | None,
    checked: Validated,
    paths: ModelPaths,
    digest: str,
    source: str,
) -> Manifest:
    return Manifest(
        name=name,
        kind=checked.kind,
        format=checked.format,
        filename=paths.filename,
        source=source,
        size=paths.file.stat().st_size,
        sha256=digest,
        hash_origin=HASH_FROM_REGISTRY if entry is not None and entry.sha256 else HASH_FIRST_USE,
        date=now_utc(),
        licence=entry.licence if entry is not None else "",
    )
