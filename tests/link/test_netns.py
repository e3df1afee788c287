"""The link between two network namespaces joined by a veth pair, and through the kernel's netem.

Needs root and ``ip netns`` (skipped otherwise); the netem test also needs the
kernel's ``sch_netem`` (skipped where ``tc`` does not know it), so the jitter
buffer meets a real kernel's loss and delay, not only our simulator.
"""

import os
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from app.cli import main as streamvox_main
from tests.link.link_rig import Receiver, send
from tests.speech_fixture import SENTENCES, make_speech


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _netns_usable() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"svlprobe{os.getpid()}"
    if _ip("netns", "add", name, check=False).returncode != 0:
        return False
    _ip("netns", "del", name, check=False)
    return True


pytestmark = pytest.mark.skipif(not _netns_usable(), reason="needs root and ip netns")


@pytest.fixture
def veth_pair():
    """Namespaces (sender, receiver) and the receiver's address; netem goes on the sender's side."""
    tag = f"{os.getpid() % 100000}"
    a, b = f"svla{tag}", f"svlb{tag}"
    net = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
    _ip("netns", "add", a)
    _ip("netns", "add", b)
    try:
        _ip("link", "add", f"sva{tag}", "netns", a, "type", "veth", "peer", "name", f"svb{tag}",
            "netns", b)  # fmt: skip
        for ns, dev, host in ((a, f"sva{tag}", 1), (b, f"svb{tag}", 2)):
            _ip("-n", ns, "addr", "add", f"{net}.{host}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield a, b, f"{net}.2", f"sva{tag}"
    finally:
        _ip("netns", "del", a, check=False)
        _ip("netns", "del", b, check=False)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    d = tmp_path_factory.mktemp("netns")
    wav = make_speech(d / "in.wav", SENTENCES[1])
    ref = d / "codec.wav"
    assert streamvox_main(["process", str(wav), str(ref), "--chain", "codec"]) == 0
    return wav, sf.read(ref, dtype="float32")[0]


def test_clean_veth_link_is_process_plus_delay(veth_pair, speech, tmp_path):
    a, b, address, _ = veth_pair
    wav, ref = speech
    rx = Receiver(tmp_path / "out.wav", "--bind", address, "--fixed-delay", "--delay-ms", "400",
                  netns=b)  # fmt: skip
    send(rx.port, wav, host=address, netns=a)
    stats = rx.finish()
    assert stats["lost"] == stats["rejected"] == stats["concealed"] == 0
    out = sf.read(rx.out, dtype="float32")[0]
    start = stats["aligned start"]
    np.testing.assert_allclose(out[start : start + len(ref)], ref, atol=1e-4)


def test_kernel_loss_and_delay(veth_pair, speech, tmp_path):
    a, b, address, dev = veth_pair
    netem = ["tc", "qdisc", "add", "dev", dev, "root", "netem", "loss", "10%", "delay", "20ms",
             "10ms"]  # fmt: skip
    done = subprocess.run(["ip", "netns", "exec", a, *netem], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"tc netem unavailable: {done.stderr.strip()}")
    wav, ref = speech
    rx = Receiver(tmp_path / "out.wav", "--bind", address, netns=b)
    send(rx.port, wav, host=address, netns=a)
    stats = rx.finish()
    frames = stats["played"] + stats["lost"] + stats["late"]
    assert 0.02 * frames <= stats["lost"] + stats["late"] <= 0.25 * frames
    assert stats["jitter ms"] > 1.0 and stats["buffer max ms"] >= 15.0
    out = sf.read(rx.out, dtype="float32")[0]
    got = out[stats["aligned start"] :][: len(ref)]
    assert np.sqrt(np.mean(got**2)) > 0.3 * np.sqrt(np.mean(ref**2))  # it kept playing
