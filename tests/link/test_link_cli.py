"""The link end to end: two processes talking UDP on 127.0.0.1 (``streamvox link``).

Timing is never asserted tightly: the receiver's fixed 400 ms buffer in the
exact tests absorbs a descheduled sender on a busy 2-core machine.
"""

import socket
import threading

import numpy as np
import pytest
import soundfile as sf

from app.cli import main as streamvox_main
from engine.audiofile import read_mono_16k
from engine.dsp.metrics import pesq_wb, stoi
from engine.link.impairment import ImpairmentConfig, lost_indices
from tests.link.link_rig import Receiver, send, streamvox, wait_for_line
from tests.speech_fixture import SENTENCES, make_speech

pytest.importorskip("opuslib_next")
EXACT = ("--fixed-delay", "--delay-ms", "400")  # a sender descheduled < 400 ms is not late


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """A 3 s utterance and what ``streamvox process --chain codec`` makes of it."""
    d = tmp_path_factory.mktemp("link")
    wav = make_speech(d / "in.wav", SENTENCES[2])
    ref = d / "codec.wav"
    assert streamvox_main(["process", str(wav), str(ref), "--chain", "codec"]) == 0
    return wav, sf.read(ref, dtype="float32")[0]


def _aligned(out_path, stats, n):
    out = sf.read(out_path, dtype="float32")[0]
    start = stats["aligned start"]
    assert start is not None and stats["samples"] == len(out)
    return out, start, out[start : start + n]


def test_clean_link_is_process_plus_delay(speech, tmp_path):
    wav, ref = speech
    rx = Receiver(tmp_path / "out.wav", *EXACT)
    sent = send(rx.port, wav)
    stats = rx.finish()
    out, start, got = _aligned(rx.out, stats, len(ref))
    assert "0 lost" in sent
    assert stats["lost"] == stats["late"] == stats["rejected"] == stats["concealed"] == 0
    assert stats["played"] == stats["received"] > 0
    assert np.abs(out[:start]).max() == 0.0  # silence while nothing arrives
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_random_datagrams_are_rejected_and_change_nothing(speech, tmp_path):
    wav, ref = speech
    rx = Receiver(tmp_path / "out.wav", *EXACT)
    tx = streamvox("link", "send", "--to", f"127.0.0.1:{rx.port}", str(wav))
    wait_for_line(tx, "sending to:")
    rng = np.random.default_rng(0)

    def flood():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(2000):
                size = int(rng.integers(0, 1500))
                data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
                if i % 10 == 0:  # some look like ours at first sight
                    data = b"SVXL\x01\x00" + data
                s.sendto(data, ("127.0.0.1", rx.port))
                if i % 4 == 0:  # ~3 s of flood while the stream plays, paced so that a
                    # receiver descheduled for 200 ms still finds them in a default-sized
                    # socket buffer (212992 bytes): the kernel must not drop any
                    threading.Event().wait(0.006)

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    flooder.join(timeout=60)
    assert tx.wait(timeout=60) == 0
    stats = rx.finish()
    assert stats["rejected"] == 2000, stats["rejected by reason"]
    assert stats["lost"] == stats["concealed"] == 0
    np.testing.assert_allclose(_aligned(rx.out, stats, len(ref))[2], ref, atol=1e-4)


def test_loss_and_jitter_keep_playing_and_are_counted(speech, tmp_path):
    wav, ref = speech
    x = read_mono_16k(wav).samples
    rx = Receiver(tmp_path / "out.wav")  # adaptive, as by default
    send(rx.port, wav, "--loss", "10", "--jitter-ms", "20", "--seed", "5")
    stats = rx.finish()
    frames = stats["played"] + stats["lost"] + stats["late"]
    drops = lost_indices(ImpairmentConfig(loss=0.1, jitter_s=0.02, seed=5), 0.015, frames + 50)
    kept = sorted(set(range(frames + 50)) - set(drops))
    inside = [i for i in drops if kept[0] < i < frames]
    assert stats["lost"] == len(inside)  # the receiver counts exactly the simulator's losses
    assert stats["received"] + stats["lost"] >= frames - 1
    assert stats["concealed"] >= stats["lost"]
    assert stats["jitter ms"] > 1.0 and stats["buffer target ms"] >= 15.0
    # it keeps playing: speech-like level throughout the utterance
    out = sf.read(rx.out, dtype="float32")[0]
    start = stats["aligned start"]
    got = out[start : start + len(ref)]
    assert len(got) == len(ref)
    clean_pesq, lossy_pesq, lossy_stoi = pesq_wb(x, ref), pesq_wb(x, got), stoi(x, got)
    print(f"PESQ-WB clean {clean_pesq:.2f} lossy {lossy_pesq:.2f}, STOI lossy {lossy_stoi:.3f}")
    assert lossy_pesq >= 0.6 * clean_pesq - 0.1
    assert lossy_stoi >= 0.6


def test_opus_over_the_same_link(speech, tmp_path):
    wav, _ = speech
    x = read_mono_16k(wav).samples
    rx = Receiver(tmp_path / "out.wav", "--chain", "opus")
    sent = send(rx.port, wav, "--chain", "opus", "--loss", "5", "--seed", "1")
    stats = rx.finish()
    assert stats["frame samples"] == 320 and stats["received"] > 0
    assert stats["fec recovered"] <= stats["concealed"]
    assert "payload:          1" in sent  # 18.7 kbit/s of Opus packets, plus sequence numbers
    out = sf.read(rx.out, dtype="float32")[0]
    got = out[stats["aligned start"] :][: len(x)]
    assert stoi(x, got) > 0.6
