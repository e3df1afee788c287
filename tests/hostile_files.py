"""Tiny model files that ask for huge memory, and a runner that caps a child's memory."""

from __future__ import annotations

import contextlib
import json
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

_MIB = 1 << 20
#: Address-space limit of the child: torch imports, nothing model-sized fits.
CHILD_LIMIT = 3 << 30
ROOT = Path(__file__).resolve().parents[1]


def safetensors_without_tensors(path: Path, metadata: dict) -> Path:
    """A valid safetensors file of a few hundred bytes: ``streamvox`` metadata, no tensors."""
    header = json.dumps({"__metadata__": {"streamvox": json.dumps(metadata)}}).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return path


class _ZeroDeflater:
    """Stands in for zlib: every 1 MiB of zeros becomes the same 1 KB full-flushed block."""

    def __init__(self) -> None:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        self.block = c.compress(bytes(_MIB)) + c.flush(zlib.Z_FULL_FLUSH)
        self.tail = c.flush()

    def compress(self, data: bytes) -> bytes:
        assert len(data) == _MIB and not any(data[:64])
        return self.block

    def flush(self) -> bytes:
        return self.tail


@contextlib.contextmanager
def _fast_zero_deflate() -> Iterator[None]:
    real = zipfile._get_compressor
    zipfile._get_compressor = lambda *a, **k: _ZeroDeflater()  # type: ignore[assignment]
    try:
        yield
    finally:
        zipfile._get_compressor = real


_SEED_NUMEL = 70_000  # pickled as a 4-byte BININT, so it can be rewritten in place


def zip_bomb_pt(path: Path, wrap: Callable[[torch.Tensor], object], inflated_mib: int) -> Path:
    """A ``torch.save`` file holding ``wrap(t)`` for a float32 ``t`` of ``inflated_mib`` MiB.

    The file stays a few MB: the pickle declares the large tensor and its
    storage entry is deflate-compressed zeros (about 1000:1).
    """
    numel = inflated_mib * _MIB // 4
    plain = path.with_suffix(".plain")
    torch.save(wrap(torch.zeros(_SEED_NUMEL)), plain)
    small, large = (b"J" + struct.pack("<i", n) for n in (_SEED_NUMEL, numel))
    zero = bytes(_MIB)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if info.filename.endswith("/data/0"):
                entry = zipfile.ZipInfo(info.filename)
                entry.compress_type = zipfile.ZIP_DEFLATED
                with _fast_zero_deflate(), dst.open(entry, "w", force_zip64=True) as f:
                    for _ in range(inflated_mib):
                        f.write(zero)
            elif info.filename.endswith("/data.pkl"):
                dst.writestr(info, src.read(info.filename).replace(small, large))
            else:
                dst.writestr(info, src.read(info.filename))
    plain.unlink()
    return path


def run_capped(code: str, limit: int = CHILD_LIMIT) -> dict:
    """Run ``code`` in a child under RLIMIT_AS; it sets ``result``; returns it with ``maxrss_mb``

    (the child's own peak resident memory).

    ``result`` is ``{"error": type and message}`` when the code raised.
    """
    body = textwrap.indent(textwrap.dedent(code).strip(), "    ")
    script = "\n".join(
        [
            "import json, resource",
            f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))",
            "result = {}",
            "try:",
            body,
            "except BaseException as exc:",
            "    result = {'error': type(exc).__name__ + ': ' + str(exc)}",
            # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the
            # forking parent (a pytest process of 1.6 GB made every child "1.6 GB")
            "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]",
            "result['maxrss_mb'] = int(hwm.split()[1]) / 1024",
            "print('RESULT' + json.dumps(result))",
        ]
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert lines, f"child died (rc {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(lines[-1][len("RESULT") :])
