"""engine.lab.runner: the Lab's evaluation run keeps what it scored and can be cancelled."""

import threading

import numpy as np
import pytest

from engine.audiofile import read_mono_16k
from engine.evaluate import EvaluationCancelled
from engine.lab.runner import run_lab, split_chains
from tests.speech_fixture import SENTENCES, make_speech


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    d = tmp_path_factory.mktemp("lab")
    return [make_speech(d / f"u{i}.wav", t) for i, t in enumerate(SENTENCES[:2])]


def test_outputs_are_kept_aligned_and_progress_counts_to_the_end(speech, tmp_path):
    steps = []
    keep = tmp_path / "audio"
    result = run_lab(speech, ["dry", "mulaw"], keep, progress=lambda d, t: steps.append((d, t)))
    assert steps == [(i, 4) for i in range(5)]
    assert [(r.chain, r.file) for r in result.rows] == [
        (c, str(f)) for c in ("dry", "mulaw") for f in speech
    ]
    original, processed = result.pair("dry", str(speech[0]))
    np.testing.assert_array_equal(original, read_mono_16k(speech[0]).samples)
    np.testing.assert_array_equal(processed, original)  # dry: the aligned copy itself
    original, processed = result.pair("mulaw", str(speech[1]))
    assert processed.shape == original.shape
    # aligned: the G.711 output correlates best with the input at lag 0
    lags = range(-20, 21)
    corr = [np.dot(original[100:-100], np.roll(processed, k)[100:-100]) for k in lags]
    assert lags[int(np.argmax(corr))] == 0
    with pytest.raises(ValueError):
        result.pair("opus", str(speech[0]))


def test_cancel_stops_between_utterances_and_reports_nothing(speech, tmp_path):
    cancel = threading.Event()

    def progress(done, total):
        if done == 1:
            cancel.set()

    seen = []
    with pytest.raises(EvaluationCancelled):
        run_lab(speech, ["dry", "mulaw"], tmp_path / "a", cancel=cancel,
                progress=lambda d, t: (seen.append(d), progress(d, t)))  # fmt: skip
    assert seen == [0, 1]  # the second utterance was never started
    assert not list(tmp_path.glob("**/*.csv")) and not list(tmp_path.glob("**/*.md"))


def test_chain_lists_are_checked():
    assert split_chains(" dry, opus@12 ,codec+vocoder,") == ["dry", "opus@12", "codec+vocoder"]
    assert split_chains("codec, opus-ladder, opus@12") == [
        "codec", "opus@6", "opus@9.3", "opus@12", "opus@18.7"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="opus@99"):
        split_chains("dry, opus@99")
    with pytest.raises(ValueError, match="lzw"):
        split_chains("lzw")
    with pytest.raises(ValueError):
        run_lab([], ["dry"], "/tmp/never")
