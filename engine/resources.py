"""Where bundled files (default weights, icons, sample audio) live."""

from __future__ import annotations

from pathlib import Path

import resources as _resources_pkg

RESOURCES_DIR = Path(_resources_pkg.__file__).resolve().parent
WEIGHTS_DIR = RESOURCES_DIR / "weights"
DEFAULT_CODEC_WEIGHTS = WEIGHTS_DIR / "codec.safetensors"
DEFAULT_VOCODER_WEIGHTS = WEIGHTS_DIR / "vocos.safetensors"
#: A second bundled vocoder with a 20 ms (not 44 ms) output delay: less latency, lower quality.
LOW_DELAY_VOCODER_WEIGHTS = WEIGHTS_DIR / "vocos_lowdelay.safetensors"
#: A third: 8 ms frames (hop 128, n_fft 512) and 8 ms output delay, for the lowest latency.
SHORT_FRAME_VOCODER_WEIGHTS = WEIGHTS_DIR / "vocos_shortframe.safetensors"
