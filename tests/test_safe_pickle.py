"""Restricted unpickler: data loads, foreign classes become placeholders, calls are refused."""

import dataclasses
import os
import pickle
import subprocess
import sys
import types
from collections import OrderedDict

import pytest
import torch

from engine.models import safe_pickle
from engine.models.errors import CheckpointError, UnsafeCheckpointError
from engine.models.safe_pickle import Placeholder, PlaceholderClass, safe_torch_load, to_plain


class _Payload:
    """Pickles as a call of ``func(*args)``, the way attacks are written."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _payloads(marker):
    return {
        "os.system": _Payload(os.system, f"touch {marker}"),
        "eval": _Payload(eval, f"open({str(marker)!r}, 'w').close()"),
        "exec": _Payload(exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.Popen": _Payload(subprocess.Popen, ["touch", str(marker)]),
    }


@pytest.mark.parametrize("name", ["os.system", "eval", "exec", "subprocess.Popen"])
@pytest.mark.parametrize("legacy", [False, True])
def test_torch_file_with_code_is_refused_and_never_runs(tmp_path, name, legacy):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    obj = {"state_dict": {"w": torch.ones(3)}, "hyper_parameters": _payloads(marker)[name]}
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsafeCheckpointError, match="refuses to call") as err:
        safe_torch_load(path)
    assert str(path) in str(err.value)
    assert err.value.path == path
    assert not marker.exists()


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_raw_pickle_calls_are_refused_at_every_protocol(tmp_path, protocol):
    marker = tmp_path / "pwned"
    data = pickle.dumps([1, _Payload(os.system, f"touch {marker}")], protocol=protocol)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        safe_pickle.loads(data)
    assert not marker.exists()


def test_plain_torch_data_loads_like_torch(tmp_path):
    path = tmp_path / "plain.pt"
    obj = {
        "sd": OrderedDict(a=torch.arange(6.0).view(2, 3), b=torch.nn.Parameter(torch.ones(2))),
        "meta": {"epoch": 3, "lr": [1e-4, (0.8, 0.99)], "name": "x", "raw": b"\x00\x01", "s": {1}},
        "half": torch.zeros(2, dtype=torch.float16),
    }
    torch.save(obj, path)
    loaded = safe_torch_load(path)
    assert isinstance(loaded["sd"], OrderedDict)
    assert torch.equal(loaded["sd"]["a"], obj["sd"]["a"])
    assert loaded["meta"] == obj["meta"]
    assert loaded["half"].dtype == torch.float16


def test_only_torch_weights_only_globals_resolve():
    unpickler = safe_pickle.Unpickler(__import__("io").BytesIO(b""))
    assert unpickler.find_class("collections", "OrderedDict") is OrderedDict
    assert (
        unpickler.find_class("torch._utils", "_rebuild_tensor_v2")
        is torch._utils._rebuild_tensor_v2
    )
    for module, name in [("os", "system"), ("builtins", "getattr"), ("torch", "load")]:
        assert isinstance(unpickler.find_class(module, name), PlaceholderClass)


@pytest.fixture
def foreign(monkeypatch):
    """Classes whose modules exist only while saving (as in a training repo)."""

    @dataclasses.dataclass
    class VocosVocoderArgs:
        dim: int = 512
        num_layers: int = 8

    class AttributeDict(dict):
        pass

    class Frames(list):
        pass

    made = {}
    for cls, module in [
        (VocosVocoderArgs, "trainrepo.args"),
        (AttributeDict, "trainrepo.data"),
        (Frames, "trainrepo.data"),
    ]:
        cls.__module__ = module
        cls.__qualname__ = cls.__name__
        for parent in ("trainrepo", module):
            if parent not in sys.modules:
                monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
        setattr(sys.modules[module], cls.__name__, cls)
        made[cls.__name__] = cls
    return made


def _save_and_forget(obj, path, monkeypatch):
    torch.save(obj, path)
    for name in ("trainrepo", "trainrepo.args", "trainrepo.data"):
        monkeypatch.delitem(sys.modules, name)


def test_foreign_instances_become_readable_placeholders(tmp_path, foreign, monkeypatch):
    args = foreign["VocosVocoderArgs"](dim=64)
    hp = foreign["AttributeDict"](vocoder_args=args, lr=1e-4, frames=foreign["Frames"]([1, 2]))
    path = tmp_path / "hp.ckpt"
    _save_and_forget({"hyper_parameters": hp, "cls": foreign["AttributeDict"]}, path, monkeypatch)
    loaded = safe_torch_load(path)
    hp2 = loaded["hyper_parameters"]
    assert isinstance(hp2, Placeholder)
    assert hp2.qualified_name == "trainrepo.data.AttributeDict"
    assert hp2.vocoder_args.dim == 64 and hp2["lr"] == 1e-4
    assert to_plain(hp2) == {
        "vocoder_args": {"dim": 64, "num_layers": 8},
        "lr": 1e-4,
        "frames": [1, 2],
    }
    assert to_plain(loaded["cls"]) == "trainrepo.data.AttributeDict"
    assert "trainrepo" not in sys.modules  # nothing was imported


def test_calling_a_foreign_class_is_refused(tmp_path, foreign, monkeypatch):
    path = tmp_path / "call.ckpt"
    _save_and_forget({"x": _Payload(foreign["VocosVocoderArgs"], 1, 2)}, path, monkeypatch)
    with pytest.raises(UnsafeCheckpointError, match="trainrepo.args.VocosVocoderArgs"):
        safe_torch_load(path)


def test_a_module_with_import_side_effects_is_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "sideeffectmod.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Thing:\n    pass\n"
    )
    fake = types.ModuleType("sideeffectmod")
    thing = type("Thing", (), {"__module__": "sideeffectmod"})
    fake.Thing = thing
    monkeypatch.setitem(sys.modules, "sideeffectmod", fake)
    path = tmp_path / "thing.ckpt"
    obj = thing()
    obj.value = 5
    torch.save({"t": obj}, path)
    monkeypatch.delitem(sys.modules, "sideeffectmod")
    monkeypatch.syspath_prepend(str(pkg))
    loaded = safe_torch_load(path)
    assert loaded["t"].value == 5
    assert not marker.exists()
    assert "sideeffectmod" not in sys.modules


def test_placeholders_are_read_only():
    cls = safe_pickle.placeholder_class("m", "C")
    obj = Placeholder.__new__(cls)
    with pytest.raises(AttributeError):
        obj.x = 1
    with pytest.raises(UnsafeCheckpointError):
        cls()


@pytest.mark.parametrize(
    "content", [b"", b"\x80\x02garbage", b"PK\x03\x04broken zip", os.urandom(64)]
)
def test_unreadable_files_give_checkpoint_error_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        safe_torch_load(path)
    assert str(path) in str(err.value)


def test_truncated_checkpoint_gives_checkpoint_error(tmp_path):
    path = tmp_path / "t.ckpt"
    torch.save({"w": torch.randn(1000)}, path)
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(CheckpointError, match="t.ckpt"):
        safe_torch_load(path)
