"""The errors a command reports as one clear line (exit code 2), not a traceback."""

import sys
from argparse import Namespace
from collections.abc import Callable

from engine.audiofile import AudioFileError
from engine.classic.native_lib import CodecUnavailableError
from engine.dsp.opus_codec import OpusUnavailableError
from engine.models.errors import CheckpointError
from engine.store.errors import StoreError

USER_ERRORS: tuple[type[Exception], ...] = (
    AudioFileError,
    CheckpointError,
    CodecUnavailableError,
    FileNotFoundError,
    OpusUnavailableError,
    StoreError,
    ValueError,
)


def reporting_errors(command: str, body: Callable[[Namespace], int]) -> Callable[[Namespace], int]:
    """``body`` as a command's entry: a user error is one line on stderr and exit code 2."""

    def run(args: Namespace) -> int:
        """Execute the command; returns the process exit code."""
        try:
            return body(args)
        except USER_ERRORS as exc:
            print(f"streamvox {command}: error: {exc}", file=sys.stderr)
            return 2

    return run
