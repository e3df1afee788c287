"""streamvox with the seed's streaming example over TCP, both ways, as two processes.

The seed's side is written here the way the seed's example does it
(TinyCodec.encode_audio on each 480-sample window, hop 240, pickled with a
4-byte big-endian length); streamvox's side is the command line.
"""

import pickle
import socket
import struct
import threading

import numpy as np
import pytest
import soundfile as sf

from app.cli import main as streamvox_main
from engine.audiofile import read_mono_16k
from engine.chain import load_codec_model
from engine.models.codec.api import TinyCodec
from engine.models.codec.stage import CodecStage
from engine.resources import DEFAULT_CODEC_WEIGHTS
from engine.token_stream import encode_signal
from tests.link.link_rig import START_TIMEOUT_S, streamvox, wait_for_line
from tests.speech_fixture import make_speech


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    d = tmp_path_factory.mktemp("seed")
    wav = make_speech(d / "in.wav")
    ref = d / "codec.wav"
    assert streamvox_main(["process", str(wav), str(ref), "--chain", "codec@oas"]) == 0
    return wav, read_mono_16k(wav).samples, sf.read(ref, dtype="float32")[0]


def _seed_windows(x, hops):
    xp = np.zeros(240 + hops * 240 + 240, np.float32)
    xp[240 : 240 + len(x)] = x
    return [xp[k * 240 : k * 240 + 480] for k in range(hops)]


def test_streamvox_listens_to_a_seed_server(speech, tmp_path):
    wav, x, ref = speech
    codec = TinyCodec(model_path=DEFAULT_CODEC_WEIGHTS, device="cpu")
    stage = CodecStage(load_codec_model(), stream="oas")  # what the seed protocol carries
    hops = -(-(len(x) + stage.model_delay) // 240)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(START_TIMEOUT_S)  # never a thread left waiting if the test fails
    port = server.getsockname()[1]

    # the seed's streaming server, serving a file as fast as it can (encoded first, so
    # that a busy machine cannot make it slower than real time)
    bodies = [pickle.dumps(codec.encode_audio(w)) for w in _seed_windows(x, hops)]
    bodies.append(pickle.dumps(["not", "indices"]))  # one message streamvox must refuse

    def seed_server():
        conn, _ = server.accept()
        with conn:
            for body in bodies:
                conn.sendall(struct.pack(">I", len(body)) + body)

    thread = threading.Thread(target=seed_server, daemon=True)
    thread.start()
    out = tmp_path / "out.wav"
    rx = streamvox("link", "receive", "--peer-protocol", "seed", "--from", f"127.0.0.1:{port}",
                   "--out", str(out), "--stats-json", str(tmp_path / "s.json"),
                   "--fixed-delay", "--delay-ms", "250")  # fmt: skip
    wait_for_line(rx, "connected to:")
    _, err = rx.communicate(timeout=60)
    thread.join(timeout=10)
    server.close()
    assert rx.returncode == 0, err
    import json

    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["received"] == hops and stats["rejected"] == 1
    assert stats["rejected by reason"] == {"seed dtype": 1}  # two strings, not arrays
    y = sf.read(out, dtype="float32")[0]
    start = stats["aligned start"]
    got = y[start : start + len(ref)]
    # the seed's own encoder (plain PyTorch) may pick another token at a near tie
    # than the fast path of 'process': compare what a listener would hear
    assert np.mean(np.abs(got - ref) < 1e-3) > 0.98
    assert np.corrcoef(got, ref)[0, 1] > 0.98


def test_streamvox_serves_a_seed_client(speech):
    wav, x, _ = speech
    tx = streamvox("link", "send", str(wav), "--peer-protocol", "seed", "--listen", "127.0.0.1:0")
    port = int(wait_for_line(tx, "listening on:").split()[2].rsplit(":", 1)[1])
    received = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:  # the seed's client
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
                n = struct.unpack(">I", buf[:4])[0]
                received.append(pickle.loads(buf[4 : 4 + n]))  # the seed trusts its server
                buf = buf[4 + n :]
    _, err = tx.communicate(timeout=30)
    assert tx.returncode == 0, err
    stage = CodecStage(load_codec_model(), precision="fp32", stream="oas")
    want = encode_signal(stage, x)  # (hops, 40), frame by frame
    assert len(received) == len(want)
    got = np.stack([np.concatenate(m, axis=0).T.reshape(-1) for m in received])
    assert all(m[0].shape == (1, 20) and m[0].dtype == np.int64 for m in received)
    np.testing.assert_array_equal(got, want)
    codec = TinyCodec(model_path=DEFAULT_CODEC_WEIGHTS, device="cpu")
    audio = codec.decode_audio(received[5], original_length=480)
    assert audio.shape == (480,)
