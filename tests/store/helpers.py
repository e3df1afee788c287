"""Small helpers shared by the model-store tests."""

from __future__ import annotations

import hashlib
from pathlib import Path


def tree(root: Path) -> list[str]:
    """Every file under ``root`` (relative, sorted), for 'nothing was left' checks."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def flip_byte(path: Path, offset: int = -100) -> None:
    """Change one byte of a file in place (a corrupted or tampered copy)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
