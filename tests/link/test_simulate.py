"""The link on a simulated clock: exact when clean, the simulator's losses counted when not."""

import numpy as np
import pytest

from engine.audiofile import read_mono_16k
from engine.chain import Chain, build_stages
from engine.link.endpoints import make_decoder, make_encoder
from engine.link.impairment import ImpairmentConfig
from engine.link.simulate import simulate_link
from tests.speech_fixture import make_speech


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return read_mono_16k(make_speech(tmp_path_factory.mktemp("sim") / "s.wav")).samples


def test_clean_simulated_link_is_the_codec_chain(speech):
    r = simulate_link(speech, make_encoder("codec"), make_decoder("codec"))
    ref = Chain(build_stages("codec")).run_aligned(speech, 256)
    np.testing.assert_allclose(r.aligned, ref, atol=1e-6)
    b = r.stats.buffer
    assert b.lost == b.late == b.concealed == b.inserted == b.skipped == 0
    assert b.played == r.impairment.packets


def test_simulated_losses_are_counted_and_reordering_repaired(speech):
    imp = ImpairmentConfig(loss=0.1, jitter_s=0.04, reorder=0.05, duplicate=0.05, seed=3)
    r = simulate_link(speech, make_encoder("codec"), make_decoder("codec"), imp)
    b, sim = r.stats.buffer, r.impairment
    last = sim.packets - 1
    inside = [i for i in sim.lost_indices if 0 < i < last]
    assert b.lost + b.late >= len(inside)
    assert b.lost == len(inside)  # a late packet is also concealed, but not lost
    assert b.duplicates >= sim.duplicated
    assert b.reordered > 0 and b.inserted > 0
    assert np.isfinite(r.aligned).all() and np.abs(r.aligned).max() > 0.01


def test_codec_plus_vocoder_receiver_is_the_chain(speech):
    from engine.chain import DEFAULT_CHUNK

    r = simulate_link(speech, make_encoder("codec"), make_decoder("codec+vocoder"))
    ref = Chain(build_stages("codec,vocoder", DEFAULT_CHUNK)).run_aligned(speech, 256)
    np.testing.assert_allclose(r.aligned, ref, atol=1e-4)
