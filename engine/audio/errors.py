"""Errors of the audio layer, with messages a person can act on."""


class AudioError(RuntimeError):
    """Something about audio I/O failed (device, stream, audio server)."""


class DeviceError(AudioError):
    """A device is missing, ambiguous, or refuses the requested settings."""


class StreamError(AudioError):
    """The stream could not be opened, or stopped unexpectedly."""
