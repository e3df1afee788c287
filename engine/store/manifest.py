"""The JSON manifest kept next to each cached model file."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from engine.atomic_file import write_text

SCHEMA = 1
#: The registry published this hash before the file was fetched.
HASH_FROM_REGISTRY = "registry"
#: Nobody published a hash: it was recorded at the first successful load.
HASH_FIRST_USE = "first-use"


class ManifestError(ValueError):
    """A manifest file is missing fields or not valid JSON."""


@dataclass(frozen=True)
class Manifest:
    """What a cached file is, where it came from, and the hash it must keep."""

    name: str
    kind: str
    format: str
    filename: str
    source: str
    size: int
    sha256: str
    hash_origin: str
    date: str
    licence: str = ""
    schema: int = SCHEMA

    def to_json(self) -> str:
        """Stable, human-readable JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: object, path: Path | None = None) -> Manifest:
        """Parse a decoded manifest; unknown keys are ignored (newer writers)."""
        where = str(path) if path else "manifest"
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: not a JSON object")
        names = {f.name for f in fields(cls)}
        required = names - {"licence", "schema"}
        missing = sorted(required - data.keys())
        if missing:
            raise ManifestError(f"{where}: missing fields {', '.join(missing)}")
        kept = {k: v for k, v in data.items() if k in names}
        if not isinstance(kept["size"], int) or not isinstance(kept["sha256"], str):
            raise ManifestError(f"{where}: size must be an int and sha256 a string")
        return cls(**kept)


def now_utc() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def read_manifest(path: Path) -> Manifest | None:
    """The manifest at ``path``, or None if there is none; ManifestError if it is broken."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: invalid JSON ({exc})") from None
    return Manifest.from_dict(data, path)


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Write atomically (:func:`engine.atomic_file.write_text`)."""
    write_text(path, manifest.to_json())
