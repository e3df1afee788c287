"""The seed's TCP protocol: its messages read, anything else refused, nothing executed."""

import os
import pickle
import struct

import numpy as np
import pytest
import torch

from engine.link.seed_protocol import (
    MAX_MESSAGE,
    MessageReader,
    SeedMessageError,
    read_indices,
    write_message,
)
from engine.models.codec.api import TinyCodec
from engine.resources import DEFAULT_CODEC_WEIGHTS


def seed_message(indices) -> bytes:
    """A message as the seed's server sends it: 4-byte big-endian length, then the pickle."""
    body = pickle.dumps(indices)
    return struct.pack(">I", len(body)) + body


@pytest.fixture(scope="module")
def seed_indices():
    codec = TinyCodec(model_path=DEFAULT_CODEC_WEIGHTS, device="cpu")
    rng = np.random.default_rng(0)
    return codec.encode_audio(rng.standard_normal(480).astype(np.float32) * 0.1)


def test_reads_what_the_seed_sends(seed_indices):
    assert [a.shape for a in seed_indices] == [(1, 20), (1, 20)]
    bodies = MessageReader().feed(seed_message(seed_indices))
    codes = read_indices(bodies[0], 2, 20, 128)
    np.testing.assert_array_equal(codes, np.concatenate(seed_indices))
    assert write_message(codes) == seed_message([a.astype(np.int64) for a in seed_indices])


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol(seed_indices, protocol):
    body = pickle.dumps(seed_indices, protocol=protocol)
    np.testing.assert_array_equal(read_indices(body, 2, 20, 128), np.concatenate(seed_indices))
    flat = [a.reshape(-1).astype(np.int32) for a in seed_indices]  # (20,) int32 too
    assert read_indices(pickle.dumps(flat, protocol=protocol), 2, 20, 128).dtype == np.int64


class _RunsCode:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class _HugeArray:
    def __reduce__(self):
        return (np.ndarray, ((10**11,),))


class _Zeros:
    def __reduce__(self):
        return (np.zeros, ((10**11,),))


def _hostile(tmp_path, ok):
    return {
        "code": pickle.dumps(_RunsCode(tmp_path / "pwned")),
        "code in list": pickle.dumps([ok[0], _RunsCode(tmp_path / "pwned")]),
        "eval": b'cbuiltins\neval\n(S\'__import__("os").system("true")\'\ntR.',
        "huge ndarray": pickle.dumps([_HugeArray(), _HugeArray()]),
        "huge zeros": pickle.dumps([_Zeros()]),
        "floats": pickle.dumps([a.astype(np.float32) for a in ok]),
        "objects": pickle.dumps([np.array([None] * 20, dtype=object)] * 2),
        "three": pickle.dumps([ok[0]] * 3),
        "short": pickle.dumps([a[:, :10] for a in ok]),
        "out of range": pickle.dumps([np.full((1, 20), 128)] * 2),
        "negative": pickle.dumps([np.full((1, 20), -1)] * 2),
        "tensors": pickle.dumps([torch.zeros(1, 20, dtype=torch.long)] * 2),
        "dict": pickle.dumps({"a": ok[0]}),
        "truncated": pickle.dumps(ok)[:-5],
        "garbage": b"\x80\x05garbage",
        "empty": b"",
        "big shape": pickle.dumps(ok).replace(b"K\x01K\x14\x86", b"J\x00\x00\x00\x10K\x14\x86"),
        "oversized": bytes(MAX_MESSAGE + 1),
    }


def test_anything_else_is_refused_and_nothing_runs(seed_indices, tmp_path):
    ok = [a.astype(np.int64) for a in seed_indices]
    for name, body in _hostile(tmp_path, ok).items():
        with pytest.raises(SeedMessageError):
            read_indices(body, 2, 20, 128)
        assert not (tmp_path / "pwned").exists(), name


def test_framing_split_anywhere(seed_indices):
    stream = seed_message(seed_indices) * 3
    for cut in range(len(stream) + 1):
        reader = MessageReader()
        bodies = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert len(bodies) == 3


def test_announced_oversized_message_ends_the_stream():
    with pytest.raises(SeedMessageError, match="oversized"):
        MessageReader().feed(struct.pack(">I", MAX_MESSAGE + 1) + b"x")
