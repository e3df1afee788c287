"""TorchScript + freeze for the fast inference paths: one compilation at a time, each once.

Both fast paths (codec and Vocos) compile their cores with TorchScript.
Two compilations at once in different threads (a live link end and the
stage builder, say) can fail inside TorchScript, which would leave that
core in slower eager mode for the whole stream; one lock for the process
makes them take turns. Where TorchScript is unavailable, the core runs
eagerly, with a warning.

Compiling holds the GIL for tens of milliseconds at a time (measured: up to
50 ms in one piece for the codec), long enough for the engine thread, which
shares the process, to miss its blocks: a stage built while a stream plays
(an A/B choice heard for the first time, a link end) made the output ring
run dry. So each compiled core is kept under a key that names everything it
was built from (the weights' digest and the build options), and the next
build of that key shares it. Sharing is safe because the cores hold no
state: every stream's state lives in its stage and is passed in each call
(loading a saved copy instead would compile its code again, as long a pause).
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import nn

_LOCK = threading.Lock()
#: compiled cores kept (a few MB each): the models and options of one session
MAX_KEPT = 8
_KEPT: OrderedDict[str, nn.Module] = OrderedDict()


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of a module's state (names, dtypes, shapes and bytes of every tensor)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
    return h.hexdigest()


def compiled_core(
    key: str, build: Callable[[], nn.Module], methods: Sequence[str]
) -> tuple[nn.Module, bool]:
    """The core ``build()`` makes, scripted and frozen (keeping ``methods``); whether scripted.

    ``key`` must name everything ``build`` depends on: a later call with the
    same key gets the same compiled module (stateless, see the module docstring).
    """
    with _LOCK:
        kept = _KEPT.get(key)
        if kept is not None:
            _KEPT.move_to_end(key)
            return kept, True
        core, scripted = _script_frozen(build(), methods)
        if scripted:
            _KEPT[key] = core
            while len(_KEPT) > MAX_KEPT:
                _KEPT.popitem(last=False)
        return core, scripted


def _script_frozen(core: nn.Module, methods: Sequence[str]) -> tuple[nn.Module, bool]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            scripted = torch.jit.script(core)
            return torch.jit.freeze(scripted, preserved_attrs=list(methods)), True
    except Exception as exc:  # TorchScript is deprecated: keep working without it
        warnings.warn(f"TorchScript unavailable ({exc}); using eager mode", stacklevel=4)
        return core, False
