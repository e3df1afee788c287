"""The models streamvox knows by name, with what is known about each file.

An entry's ``sha256``/``size`` are ``None`` when nobody has published them;
the store then records the hash of the first copy that loads successfully
and refuses any later copy that differs ("trust on first use", recorded in
the model's manifest). Sources were read from the seed packages (see
``docs/reference-models.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine import resources

KINDS = ("codec", "vocoder")

#: Our own weights: safetensors with ``"streamvox"`` metadata (codec or vocoder).
FORMAT_STREAMVOX = "streamvox-safetensors"
#: The seed codec's ``torch.save``'d ``{"model_state_dict": ...}``.
FORMAT_SEED_CODEC = "seed-codec"
#: The Streaming Vocos PyTorch Lightning checkpoint.
FORMAT_LIGHTNING_VOCOS = "lightning-vocos"
FORMATS = (FORMAT_STREAMVOX, FORMAT_SEED_CODEC, FORMAT_LIGHTNING_VOCOS)

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_name(name: str) -> str:
    """Return ``name`` if it is a safe model name (it becomes a folder name), else ValueError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"invalid model name {name!r}: use 1-64 lower-case letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class ModelEntry:
    """One known model file.

    ``url`` is None for files that cannot be downloaded (bundled ones);
    ``bundled`` is the path inside the installation for those.
    """

    name: str
    kind: str
    format: str
    filename: str
    description: str
    licence: str
    source: str
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    bundled: Path | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        if not self.filename or Path(self.filename).name != self.filename:
            raise ValueError(f"filename must be a plain file name, got {self.filename!r}")
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"sha256 must be 64 lower-case hex digits, got {self.sha256!r}")
        if self.size is not None and (not isinstance(self.size, int) or self.size <= 0):
            raise ValueError(f"size must be a positive int, got {self.size!r}")
        if self.url is None and self.bundled is None:
            raise ValueError(f"{self.name}: an entry needs a url or a bundled path")

    @property
    def downloadable(self) -> bool:
        """True when the file can be fetched from ``url``."""
        return self.url is not None


STREAMING_VOCOS_URL = "https://huggingface.co/warisqr007/StreamingVocos/resolve/main/epoch%3D3.ckpt"
# The seed codec package downloads its weights from this Google Drive file
# (file id found in the seed package's streaming_example.py / codec_api.py).
SEED_CODEC_DRIVE_ID = "16ChGzs6MR8PcGHYmFKkW_WsaWEUjegsn"
SEED_CODEC_URL = f"https://drive.google.com/uc?export=download&id={SEED_CODEC_DRIVE_ID}"

DEFAULT_ENTRIES: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="default-codec",
        kind="codec",
        format=FORMAT_STREAMVOX,
        filename=resources.DEFAULT_CODEC_WEIGHTS.name,
        description="TinyTransformerCodec trained by streamvox (bundled, works offline)",
        licence="MIT (streamvox)",
        source="bundled with streamvox",
        bundled=resources.DEFAULT_CODEC_WEIGHTS,
    ),
    ModelEntry(
        name="default-vocoder",
        kind="vocoder",
        format=FORMAT_STREAMVOX,
        filename=resources.DEFAULT_VOCODER_WEIGHTS.name,
        description="Streaming Vocos trained by streamvox: 8 ms mel frames (hop 128, n_fft "
        "512), amplitude prior, 24 ms output delay; the best quality of the bundled "
        "vocoders (bundled, works offline)",
        licence="MIT (streamvox)",
        source="bundled with streamvox",
        bundled=resources.DEFAULT_VOCODER_WEIGHTS,
    ),
    ModelEntry(
        name="lowlatency-vocoder",
        kind="vocoder",
        format=FORMAT_STREAMVOX,
        filename=resources.LOW_LATENCY_VOCODER_WEIGHTS.name,
        description="Streaming Vocos trained by streamvox like default-vocoder but with 8 ms "
        "of output delay: 16 ms less latency, lower quality; bundled",
        licence="MIT (streamvox)",
        source="bundled with streamvox",
        bundled=resources.LOW_LATENCY_VOCODER_WEIGHTS,
    ),
    ModelEntry(
        name="seedframe-vocoder",
        kind="vocoder",
        format=FORMAT_STREAMVOX,
        filename=resources.SEED_FRAME_VOCODER_WEIGHTS.name,
        description="Streaming Vocos trained by streamvox in the seed's geometry (20 ms "
        "frames: hop 320, n_fft 1024) with 44 ms output delay, no amplitude prior: "
        "comparable with the seed's checkpoints; bundled",
        licence="MIT (streamvox)",
        source="bundled with streamvox",
        bundled=resources.SEED_FRAME_VOCODER_WEIGHTS,
    ),
    ModelEntry(
        name="streaming-vocos",
        kind="vocoder",
        format=FORMAT_LIGHTNING_VOCOS,
        filename="epoch=3.ckpt",
        description="published Streaming Vocos checkpoint (epoch 3, PyTorch Lightning)",
        licence="unknown: not stated in the seed; see the Hugging Face model page",
        source="https://huggingface.co/warisqr007/StreamingVocos (seed README)",
        url=STREAMING_VOCOS_URL,
    ),
    ModelEntry(
        name="seed-codec",
        kind="codec",
        format=FORMAT_SEED_CODEC,
        filename="tiny_transformer_best.pt",
        description="the seed package's TinyTransformerCodec weights (epoch 131 best)",
        licence="unknown: not stated in the seed package",
        source=f"Google Drive file {SEED_CODEC_DRIVE_ID} (seed package download link)",
        url=SEED_CODEC_URL,
    ),
)


class Registry(Mapping[str, ModelEntry]):
    """Known models by name; tests build their own with local URLs."""

    def __init__(self, entries: Iterable[ModelEntry] = DEFAULT_ENTRIES) -> None:
        self._entries: dict[str, ModelEntry] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise ValueError(f"duplicate model name {entry.name!r}")
            self._entries[entry.name] = entry

    def __getitem__(self, name: str) -> ModelEntry:
        return self._entries[name]

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


DEFAULT_REGISTRY = Registry()
