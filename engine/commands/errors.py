"""The errors a command reports as one clear line (exit code 2), not a traceback."""

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
