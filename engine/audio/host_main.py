"""Entry point of the audio host process (``python -m engine.audio.host_main``).

The process owns PortAudio and nothing else: it opens the stream, reports
what it opened as one JSON line on stdout, waits for the engine's GO, then
lets the callbacks run until the engine sets STOP, the engine disappears
(stdin closes) or the stream dies (device unplugged, audio server killed).

It always leaves with ``os._exit``: after an audio server died, PortAudio's
own clean-up (closing the stream, ``Pa_Terminate`` at exit) can hang or
abort, and the engine must never wait on that.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from engine.audio import shm
from engine.audio.child import emit_line
from engine.audio.errors import AudioError
from engine.audio.stream import DeviceStream, StreamSpec


def emit(event: str, **fields) -> None:
    """Send one event line to the engine."""
    emit_line({"event": event, **fields})


def _waker(fd: int | None):
    if fd is None:
        return lambda: None
    os.set_blocking(fd, False)
    byte = b"\x00"

    def wake() -> None:
        try:
            os.write(fd, byte)
        except (BlockingIOError, BrokenPipeError):
            pass

    return wake


def _watch_parent(gone: threading.Event) -> None:
    """The engine holds our stdin open; EOF means it is gone."""
    try:
        while sys.stdin.buffer.read(1):
            pass
    except (OSError, ValueError):
        pass
    gone.set()


def _open(args) -> DeviceStream:
    if args.jack_name:
        from engine.audio.devices import set_jack_client_name

        set_jack_client_name(args.jack_name)
    block = shm.SharedBlock(args.shm, args.in_capacity, args.out_capacity, create=False)
    return DeviceStream(StreamSpec.from_json(args.spec), block, _waker(args.wake_fd))


def run(args) -> int:
    """Open, report, run until told otherwise; return the exit status."""
    gone = threading.Event()
    threading.Thread(target=_watch_parent, args=(gone,), daemon=True).start()
    try:
        stream = _open(args)
    except (AudioError, ValueError) as exc:
        _terminate_portaudio()
        emit("error", message=str(exc))
        return 2
    except Exception as exc:  # noqa: BLE001 - report anything PortAudio throws
        _terminate_portaudio()
        emit("error", message=f"{type(exc).__name__}: {exc}")
        return 2
    control = stream.shared.control
    control[shm.STATE] = shm.OPENED
    emit("opened", **stream.info.__dict__)
    while not control[shm.GO]:
        if control[shm.STOP] or gone.is_set():
            stream.close()
            _terminate_portaudio()
            return 0
        time.sleep(0.002)
    try:
        stream.start()
    except Exception as exc:  # noqa: BLE001
        stream.close()
        _terminate_portaudio()
        emit("error", message=f"cannot start the stream: {exc}")
        return 2
    control[shm.STATE] = shm.RUNNING
    emit("running")
    while not control[shm.STOP] and not gone.is_set():
        time.sleep(0.01)
        if not stream.active:
            control[shm.STATE] = shm.STOPPED
            emit(
                "stopped",
                message="the audio stream stopped: device disconnected or audio server gone",
            )
            return 3
    stream.close()
    _terminate_portaudio()  # leave JACK politely: a vanished client stalls a sync server
    control[shm.STATE] = shm.STOPPED
    emit("closed")
    return 0


def _terminate_portaudio() -> None:
    """Close PortAudio's JACK client properly (never after the server died)."""
    sounddevice = sys.modules.get("sounddevice")
    if sounddevice is None:
        return
    try:
        sounddevice._terminate()
    except Exception:  # noqa: BLE001 - we are leaving anyway
        pass


def main(argv: list[str] | None = None) -> None:
    """Parse the engine's arguments and run; always exits hard (see module doc)."""
    p = argparse.ArgumentParser(description="streamvox audio host (started by the engine)")
    p.add_argument("--shm", required=True)
    p.add_argument("--in-capacity", type=int, required=True)
    p.add_argument("--out-capacity", type=int, required=True)
    p.add_argument("--spec", required=True)
    p.add_argument("--wake-fd", type=int, default=None)
    p.add_argument("--jack-name", default=None)
    args = p.parse_args(argv)
    code = run(args)
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
