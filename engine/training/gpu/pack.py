r"""Pack what a lent GPU needs to train the vocoder: a subset of the speech, the split, wheels.

    python -m engine.training.gpu.pack [--out runs/gpu_pack] [--max-mb 30]

The device machine gets only the working tree (at most 64 MiB in all, of
which the bundled weights take ~25) and has PyTorch but not soundfile or
soxr. So this copies every held-out utterance of the shipped split, then
training utterances in a seeded random order until ``max_mb``, and the
noise; writes ``split.json`` naming exactly the packed files (so the GPU
run keeps the shipped held-out speakers); and downloads the pinned wheels
of soundfile, soxr and cffi for the device's Python 3.12. Then:
``bash engine/training/gpu/train.sh vocoder`` (or ``codec``) there, carrying the folder.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.training.data import DEFAULT_DATA_DIR, DEFAULT_NOISE_DIR, read_split, write_split

ROOT = Path(__file__).resolve().parents[3]
WHEELS = ("soundfile", "soxr", "cffi")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64")


def pick(split: dict, data_dir: Path, max_bytes: int, seed: int = 0) -> dict[str, list[str]]:
    """All validation files, then shuffled training files while they fit in ``max_bytes``."""
    val = list(split["val"])
    used = sum((data_dir / n).stat().st_size for n in val)
    train: list[str] = []
    for i in np.random.default_rng(seed).permutation(len(split["train"])):
        name = split["train"][int(i)]
        size = (data_dir / name).stat().st_size
        if used + size > max_bytes:
            continue
        train.append(name)
        used += size
    return {"train": sorted(train), "val": val, "val_speakers": split.get("val_speakers", [])}


def pinned(names: tuple[str, ...]) -> list[str]:
    """``name==version`` for each of ``names`` from constraints.txt."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return [f"{n}=={pins[n]}" for n in names]


def download_wheels(dest: Path) -> None:
    """Binary wheels for CPython 3.12 on x86-64 Linux (the device image's Python)."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "-d",
        str(dest),
    ]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    subprocess.run(cmd + pinned(WHEELS), check=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "gpu_pack")
    p.add_argument("--split", type=Path, default=ROOT / "engine/training/configs/split_seed0.json")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--noise-dir", type=Path, default=DEFAULT_NOISE_DIR)
    p.add_argument("--max-mb", type=float, default=30.0, help="speech + noise budget")
    p.add_argument("--no-wheels", action="store_true", help="skip the wheel download")
    args = p.parse_args(argv)
    noise = sorted(args.noise_dir.glob("*.flac"))
    budget = int(args.max_mb * 2**20) - sum(f.stat().st_size for f in noise)
    chosen = pick(read_split(args.split), args.data_dir, budget)
    speech = args.out / "speech"
    shutil.rmtree(args.out, ignore_errors=True)
    speech.mkdir(parents=True)
    (args.out / "noise").mkdir()
    for name in chosen["train"] + chosen["val"]:
        shutil.copy2(args.data_dir / name, speech / name)
    for f in noise:
        shutil.copy2(f, args.out / "noise" / f.name)
    write_split({**chosen, "seed": 0}, args.out / "split.json")
    if not args.no_wheels:
        download_wheels(args.out / "wheels")
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file()) / 2**20
    print(
        f"packed {len(chosen['train'])} train + {len(chosen['val'])} val utterances, "
        f"{len(noise)} noise files: {size:.1f} MiB in {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
