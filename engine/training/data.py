"""Speech data for training: the speaker-level split and an in-memory crop sampler.

The corpus in ``../shared/speech/train`` is small (about 62 minutes, 120 MB as
int16), so every file is read once into memory and crops are cut from there:
no data loader processes, which matters on a 2-core machine.

Files are named ``<corpus>_<speaker>_<id>.flac``. Validation holds out whole
speakers (never single utterances) so that the scores measure generalisation
to unseen voices. The choice is made by a hash of ``corpus/speaker`` and a
seed, so it does not depend on the order files are listed in and stays stable
when files are added.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "speech" / "train"
DEFAULT_NOISE_DIR = DEFAULT_DATA_DIR.parent / "noise"

#: Fraction of speakers held out per corpus, and the minimum count held out.
DEFAULT_HOLDOUT: dict[str, tuple[float, int]] = {
    "librispeech": (0.08, 1),
    "speechcommands": (0.10, 1),
    "fsdd8k": (0.0, 1),
    "libritts": (0.0, 0),
}


@dataclass(frozen=True)
class Utterance:
    """One file of the corpus: ``<corpus>_<speaker>_<id>.flac``."""

    path: Path
    corpus: str
    speaker: str
    utt_id: str

    @property
    def speaker_key(self) -> str:
        """Speaker identity that is unique across corpora."""
        return f"{self.corpus}/{self.speaker}"


def parse_name(path: str | Path) -> Utterance:
    """Split a corpus file name into (corpus, speaker, id).

    Raises ValueError when the name does not have the three parts.
    """
    path = Path(path)
    parts = path.stem.split("_", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"{path}: expected a name '<corpus>_<speaker>_<id>.flac'")
    return Utterance(path, parts[0], parts[1], parts[2])


def list_utterances(data_dir: str | Path = DEFAULT_DATA_DIR) -> list[Utterance]:
    """All ``*.flac`` files of ``data_dir``, sorted by name."""
    data_dir = Path(data_dir)
    files = sorted(data_dir.glob("*.flac"))
    if not files:
        raise ValueError(f"{data_dir}: no .flac files found")
    return [parse_name(f) for f in files]


def _rank(key: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()


def speaker_split(
    utterances: list[Utterance],
    seed: int = 0,
    holdout: dict[str, tuple[float, int]] | None = None,
) -> dict[str, list[str]]:
    """Split speakers into train and validation, per corpus.

    For each corpus, ``max(min_count, round(fraction * n_speakers))`` speakers
    (those with the smallest seeded hash) go to validation, but never all of
    them. Returns ``{"train": [file names], "val": [file names],
    "val_speakers": [...], "seed": seed}``.
    """
    holdout = DEFAULT_HOLDOUT if holdout is None else holdout
    by_corpus: dict[str, set[str]] = {}
    for u in utterances:
        by_corpus.setdefault(u.corpus, set()).add(u.speaker_key)
    val_speakers: set[str] = set()
    for corpus, speakers in sorted(by_corpus.items()):
        fraction, min_count = holdout.get(corpus, (0.0, 0))
        if not 0.0 <= fraction < 1.0 or min_count < 0:
            raise ValueError(f"bad holdout for {corpus}: {(fraction, min_count)}")
        n_val = min(max(min_count, round(fraction * len(speakers))), len(speakers) - 1)
        ranked = sorted(speakers, key=lambda k: _rank(k, seed))
        val_speakers.update(ranked[: max(n_val, 0)])
    train = sorted(u.path.name for u in utterances if u.speaker_key not in val_speakers)
    val = sorted(u.path.name for u in utterances if u.speaker_key in val_speakers)
    return {"seed": seed, "val_speakers": sorted(val_speakers), "train": train, "val": val}


def write_split(split: dict, path: str | Path) -> None:
    """Write a split (as made by :func:`speaker_split`) to a JSON file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(split, indent=1) + "\n")


def read_split(path: str | Path) -> dict:
    """Read a split JSON file written by :func:`write_split`."""
    split = json.loads(Path(path).read_text())
    if not {"train", "val"} <= split.keys():
        raise ValueError(f"{path}: not a split file (needs 'train' and 'val')")
    return split


def read_audio(path: str | Path) -> np.ndarray:
    """Read a 16 kHz mono file as int16 ``(L,)``; ValueError for other rates."""
    data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path}: sample rate {rate}, expected {SAMPLE_RATE}")
    return np.ascontiguousarray(
        data.mean(axis=1).astype(np.int16) if data.shape[1] > 1 else data[:, 0]
    )


class AudioBank:
    """Many utterances held in memory as int16, sampled as float crops.

    Crops start uniformly over all samples of all files (longer files are
    picked more often, in proportion to their length). Files shorter than a
    crop are zero-padded at the end.
    """

    def __init__(self, paths: list[Path], names: list[str] | None = None) -> None:
        if not paths:
            raise ValueError("AudioBank needs at least one file")
        self.names = names or [Path(p).name for p in paths]
        self.clips = [read_audio(p) for p in paths]
        lengths = np.array([len(c) for c in self.clips], dtype=np.float64)
        self.weights = lengths / lengths.sum()

    @classmethod
    def from_names(cls, data_dir: str | Path, names: list[str]) -> AudioBank:
        """Load the files ``names`` (e.g. a split's ``train`` list) of ``data_dir``."""
        data_dir = Path(data_dir)
        return cls([data_dir / n for n in names], list(names))

    @property
    def seconds(self) -> float:
        """Total duration in seconds."""
        return sum(len(c) for c in self.clips) / SAMPLE_RATE

    def crop(self, rng: np.random.Generator, length: int) -> np.ndarray:
        """One random float32 crop ``(length,)`` in [-1, 1)."""
        if length <= 0:
            raise ValueError(f"crop length must be positive, got {length}")
        clip = self.clips[rng.choice(len(self.clips), p=self.weights)]
        out = np.zeros(length, dtype=np.float32)
        if len(clip) <= length:
            out[: len(clip)] = clip / 32768.0
        else:
            start = int(rng.integers(0, len(clip) - length + 1))
            out[:] = clip[start : start + length] / 32768.0
        return out

    def batch(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        """``n`` random crops as float32 ``(n, length)``."""
        return np.stack([self.crop(rng, length) for _ in range(n)])

    def utterance(self, index: int) -> np.ndarray:
        """Whole utterance ``index`` as float32 ``(L,)``."""
        return self.clips[index].astype(np.float32) / 32768.0

    def summary(self) -> dict:
        """Counts per corpus (files, speakers, minutes) for checkpoint metadata."""
        out: dict[str, dict] = {}
        for name, clip in zip(self.names, self.clips, strict=True):
            u = parse_name(name)
            entry = out.setdefault(u.corpus, {"files": 0, "speakers": set(), "minutes": 0.0})
            entry["files"] += 1
            entry["speakers"].add(u.speaker)
            entry["minutes"] += len(clip) / SAMPLE_RATE / 60
        return {
            k: {
                "files": v["files"],
                "speakers": len(v["speakers"]),
                "minutes": round(v["minutes"], 2),
            }
            for k, v in sorted(out.items())
        }


def load_banks(cfg: dict[str, Any], out_dir: Path) -> tuple[AudioBank, AudioBank, AudioBank | None]:
    """Split by speaker, write ``split.json``, load train/val/noise audio into memory.

    ``cfg["split_file"]`` (optional) fixes the split instead: a packed subset
    of the data (the GPU script's) keeps the shipped split's held-out speakers.
    """
    data_dir = Path(cfg["data_dir"])
    if cfg.get("split_file"):
        split = read_split(cfg["split_file"])
    else:
        split = speaker_split(list_utterances(data_dir), seed=cfg["seed"])
    write_split(split, out_dir / "split.json")
    cfg["val_speakers"] = split.get("val_speakers", [])
    noise_files = sorted(Path(cfg["noise_dir"]).glob("*.flac"))
    noise = AudioBank(noise_files) if noise_files else None
    return (
        AudioBank.from_names(data_dir, split["train"]),
        AudioBank.from_names(data_dir, split["val"]),
        noise,
    )
