"""A restricted unpickler for ``torch.load``: data in, never code.

Use it as ``torch.load(f, weights_only=False, pickle_module=safe_pickle)``
(or call :func:`safe_torch_load`). It resolves only the globals that torch's
own weights-only loader allows (tensors, storages, dtypes, OrderedDict, ...).
Any other global (a training script's dataclass, Lightning's
``AttributeDict``, ``os.system``...) is *not imported*: it becomes an inert
:class:`PlaceholderClass` that remembers its module and name.

* Building an instance of a placeholder class the way pickle builds plain
  objects (``NEWOBJ`` then ``BUILD`` / ``SETITEMS`` / ``APPENDS``) only
  records the arguments and state in a :class:`Placeholder`, so
  ``hyper_parameters`` stays readable (see :func:`to_plain`).
* *Calling* a placeholder (``REDUCE``, ``INST``/``OBJ``, or through an
  allowed rebuild function) raises :class:`UnsafeCheckpointError`: that is
  how a pickle runs code (``os.system``, ``eval``, ``subprocess.Popen``), and
  the payload never runs.
"""

from __future__ import annotations

import _compat_pickle
import os
import pickle
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import torch

from engine.models.errors import CheckpointError, UnsafeCheckpointError
from engine.models.file_limits import check_zip_sizes

__all__ = [
    "Placeholder",
    "PlaceholderClass",
    "Unpickler",
    "load",
    "safe_torch_load",
    "to_plain",
]


@lru_cache(maxsize=1)
def _allowed_globals() -> dict[str, Any]:
    """``"module.name" -> object`` exactly as torch's weights-only unpickler allows."""
    from torch import _weights_only_unpickler

    return dict(_weights_only_unpickler._get_allowed_globals())


class PlaceholderClass(type):
    """Type of every placeholder class: calling one is refused, never performed."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise UnsafeCheckpointError(
            None,
            f"refuses to call {cls.qualified_name}: the file asks to run code while "
            "loading, so it was not loaded (only plain data and tensors are accepted)",
        )


class Placeholder:
    """Inert stand-in for an instance of a class that is not loaded from the file.

    It records the ``NEWOBJ`` arguments, the ``BUILD`` state and what
    ``SETITEMS`` / ``APPENDS`` added (dict or list subclasses) under ``_ph_*``
    names. Attribute access reads the state's fields, then the items, so
    ``hp.vocoder_args.dim`` works as on the real object; :func:`to_plain`
    gives plain dicts.
    """

    qualified_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        obj = object.__new__(cls)
        d = obj.__dict__
        d["_ph_args"] = args
        d["_ph_state"] = None
        d["_ph_items"] = {}
        d["_ph_list"] = []
        return obj

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_ph_state"] = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__["_ph_items"][key] = value

    def __getitem__(self, key: Any) -> Any:
        return self.__dict__["_ph_items"][key]

    def __contains__(self, key: Any) -> bool:
        return key in self.__dict__["_ph_items"]

    def append(self, value: Any) -> None:
        """Record one ``APPEND`` (list subclasses)."""
        self.__dict__["_ph_list"].append(value)

    def extend(self, values: Any) -> None:
        """Record an ``APPENDS`` (list subclasses)."""
        self.__dict__["_ph_list"].extend(values)

    def fields(self) -> dict[str, Any]:
        """The recorded attribute state as a dict (``{}`` when none or not a dict)."""
        state = self.__dict__["_ph_state"]
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            merged: dict[str, Any] = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            return merged
        return dict(state) if isinstance(state, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        fields = self.fields()
        if name in fields:
            return fields[name]
        items = self.__dict__["_ph_items"]
        if name in items:
            return items[name]
        raise AttributeError(f"{self.qualified_name} placeholder has no field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("placeholders are read-only")

    def __repr__(self) -> str:
        return f"<placeholder {self.qualified_name} {self.fields() or self.__dict__['_ph_items']}>"


def placeholder_class(module: str, name: str) -> PlaceholderClass:
    """A new inert class standing for global ``module.name`` (nothing is imported)."""
    return PlaceholderClass(
        name.rpartition(".")[2] or "Placeholder",
        (Placeholder,),
        {"qualified_name": f"{module}.{name}", "foreign_module": module, "foreign_name": name},
    )


class Unpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only torch's weights-only globals."""

    def __init__(self, file: IO[bytes], **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self._placeholders: dict[tuple[str, str], PlaceholderClass] = {}

    def find_class(self, module: str, name: str) -> Any:
        """Allowed global, or an inert placeholder class; never imports."""
        if (module, name) in _compat_pickle.NAME_MAPPING:  # protocol-2 Python 2 names
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        allowed = _allowed_globals().get(f"{module}.{name}")
        if allowed is not None:
            return allowed
        key = (module, name)
        if key not in self._placeholders:
            self._placeholders[key] = placeholder_class(module, name)
        return self._placeholders[key]


def load(file: IO[bytes], **kwargs: Any) -> Any:
    """``pickle.load`` with :class:`Unpickler` (torch's legacy format calls this)."""
    return Unpickler(file, **kwargs).load()


def loads(data: bytes, **kwargs: Any) -> Any:
    """``pickle.loads`` with :class:`Unpickler`."""
    import io

    return load(io.BytesIO(data), **kwargs)


def safe_torch_load(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` of ``path`` onto the CPU through this module; no code from the file runs.

    Raises :class:`UnsafeCheckpointError` (naming the file) when the pickle
    tries to call something, :class:`CheckpointError` when it is unreadable.
    """
    import sys

    path = Path(path)
    check_zip_sizes(path)
    try:
        with open(path, "rb") as f:  # a file object: torch must not route by file suffix
            return torch.load(
                f, map_location="cpu", weights_only=False, pickle_module=sys.modules[__name__]
            )
    except UnsafeCheckpointError as exc:
        raise UnsafeCheckpointError(path, exc.problem) from None
    except OSError as exc:
        raise CheckpointError(path, f"cannot read the file ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not a checkpoint"
        raise CheckpointError(
            path, f"not a readable torch checkpoint ({type(exc).__name__}: {exc})"
        ) from None


def to_plain(obj: Any, _depth: int = 0) -> Any:
    """Placeholders -> dicts (fields, then dict items), recursively through containers.

    A placeholder *class* (a global referenced but not instantiated) becomes
    its ``"module.name"`` string. Tensors and other values are kept.
    """
    if _depth > 100:
        raise ValueError("structure nested too deeply")
    recurse: Callable[[Any], Any] = lambda v: to_plain(v, _depth + 1)  # noqa: E731
    if isinstance(obj, Placeholder):
        d = obj.__dict__
        plain: dict[Any, Any] = {k: recurse(v) for k, v in obj.fields().items()}
        plain.update({k: recurse(v) for k, v in d["_ph_items"].items()})
        if d["_ph_list"] and not plain:
            return [recurse(v) for v in d["_ph_list"]]
        return plain
    if isinstance(obj, PlaceholderClass):
        return obj.qualified_name
    if isinstance(obj, dict):
        return {k: recurse(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [recurse(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(recurse(v) for v in obj)
    return obj
