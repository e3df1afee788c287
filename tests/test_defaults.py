"""The documented defaults: one vocoder chunk everywhere, the best measured chain.

README ("The desktop app", "Commands"): the app and every command start on
codec+vocoder with the default vocoder (8 ms frames) at chunk 2.
"""

import pytest

from app.cli import build_parser
from app.settings import Settings
from engine.chain import DEFAULT_CHUNK
from engine.live.control import Start


def test_one_default_chunk_of_two_frames():
    assert DEFAULT_CHUNK == 2
    assert Settings().chunk == DEFAULT_CHUNK
    assert Start().chunk == DEFAULT_CHUNK


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["process", "in.wav", "out.wav"],
        ["evaluate", "in.wav"],
    ],
)
def test_every_command_defaults_to_that_chunk(argv):
    args = build_parser().parse_args(argv)
    assert args.chunk == DEFAULT_CHUNK


def test_the_app_and_run_start_on_codec_plus_vocoder_with_the_bundled_default():
    s = Settings()
    assert s.tap == "codec+vocoder" and s.codec_enabled and s.vocoder_enabled
    assert s.vocoder_weights == "" and s.codec_weights == ""  # "" = the bundled defaults
    assert build_parser().parse_args(["run"]).chain == "codec,vocoder"
