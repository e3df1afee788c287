"""TorchScript + freeze for the fast inference paths, one compilation at a time.

Both fast paths (codec and Vocos) compile their cores with TorchScript.
Two compilations at once in different threads (a live link end and the
stage builder, say) can fail inside TorchScript, which would leave that
core in slower eager mode for the whole stream; one lock for the process
makes them take turns. Where TorchScript is unavailable, the core runs
eagerly, with a warning.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence

import torch
from torch import nn

_LOCK = threading.Lock()


def script_frozen(core: nn.Module, methods: Sequence[str]) -> tuple[nn.Module, bool]:
    """``core`` scripted and frozen (keeping ``methods``), and whether that worked."""
    with _LOCK:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                scripted = torch.jit.script(core)
                return torch.jit.freeze(scripted, preserved_attrs=list(methods)), True
        except Exception as exc:  # TorchScript is deprecated: keep working without it
            warnings.warn(f"TorchScript unavailable ({exc}); using eager mode", stacklevel=3)
            return core, False
