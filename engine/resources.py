"""Where bundled files (default weights, icons, sample audio) live."""

from __future__ import annotations

from pathlib import Path

import resources as _resources_pkg

RESOURCES_DIR = Path(_resources_pkg.__file__).resolve().parent
WEIGHTS_DIR = RESOURCES_DIR / "weights"
DEFAULT_CODEC_WEIGHTS = WEIGHTS_DIR / "codec.safetensors"
#: The default vocoder: 8 ms mel frames (n_fft 512, hop 128) with the amplitude
#: prior, 24 ms of output delay (each frame re-synthesises the span it heard).
DEFAULT_VOCODER_WEIGHTS = WEIGHTS_DIR / "vocos.safetensors"
#: The same recipe at 8 ms of output delay: 16 ms less latency, lower quality.
LOW_LATENCY_VOCODER_WEIGHTS = WEIGHTS_DIR / "vocos_lowlatency.safetensors"
#: The seed's geometry (n_fft 1024, hop 320, 44 ms output delay), kept so that
#: the seed's formats stay comparable.
SEED_FRAME_VOCODER_WEIGHTS = WEIGHTS_DIR / "vocos_seedframe.safetensors"
