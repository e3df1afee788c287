"""Audio devices through sounddevice/PortAudio: list, resolve, validate, rescan.

PortAudio enumerates devices once, at initialisation; :func:`rescan`
re-initialises it to see devices plugged in since. Caveat found on Linux
with PortAudio 19.6 and JACK: once the JACK server has died, re-initialising
PortAudio in that process hangs or aborts (it cannot close its dead JACK
client). The live engine therefore keeps PortAudio in a child process
(``engine.audio.host``), and long-lived front ends should list devices with
:func:`query_isolated`, which asks a short-lived child process.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
from dataclasses import asdict, dataclass

from engine.audio.child import child_env
from engine.audio.errors import DeviceError


@dataclass(frozen=True)
class HostApiInfo:
    """One PortAudio host API (ALSA, JACK, CoreAudio, WASAPI, ...)."""

    index: int
    name: str
    devices: tuple[int, ...]
    default_input: int | None
    default_output: int | None


@dataclass(frozen=True)
class DeviceInfo:
    """One device as PortAudio reports it (latencies in seconds)."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    default_low_input_latency: float
    default_high_input_latency: float
    default_low_output_latency: float
    default_high_output_latency: float
    is_default_input: bool = False
    is_default_output: bool = False

    @property
    def label(self) -> str:
        """``name (host API)``: what a person picks in a list."""
        return f"{self.name} ({self.hostapi})"


def _sd():
    import sounddevice

    return sounddevice


def query() -> tuple[list[HostApiInfo], list[DeviceInfo]]:
    """Host APIs and devices known to PortAudio in this process."""
    sd = _sd()
    apis = []
    for i, api in enumerate(sd.query_hostapis()):
        din, dout = api["default_input_device"], api["default_output_device"]
        apis.append(
            HostApiInfo(
                i,
                api["name"],
                tuple(api["devices"]),
                din if din >= 0 else None,
                dout if dout >= 0 else None,
            )
        )
    din, dout = _default_indices()
    devices = []
    for d in sd.query_devices():
        devices.append(
            DeviceInfo(
                index=d["index"],
                name=d["name"],
                hostapi=apis[d["hostapi"]].name,
                max_input_channels=d["max_input_channels"],
                max_output_channels=d["max_output_channels"],
                default_samplerate=float(d["default_samplerate"]),
                default_low_input_latency=d["default_low_input_latency"],
                default_high_input_latency=d["default_high_input_latency"],
                default_low_output_latency=d["default_low_output_latency"],
                default_high_output_latency=d["default_high_output_latency"],
                is_default_input=d["index"] == din,
                is_default_output=d["index"] == dout,
            )
        )
    return apis, devices


def _default_indices() -> tuple[int | None, int | None]:
    sd = _sd()
    out = []
    for kind in ("input", "output"):
        try:
            out.append(int(sd.query_devices(kind=kind)["index"]))
        except Exception:  # noqa: BLE001 - PortAudio raises several types for "none"
            out.append(None)
    return out[0], out[1]


def rescan() -> None:
    """Re-initialise PortAudio so newly attached devices appear (see module caveat)."""
    sd = _sd()
    sd._terminate()
    sd._initialize()


def resolve(spec: int | str | None, kind: str, hostapi: str | None = None) -> DeviceInfo:
    """Find the device meant by ``spec``: an index, a name (substring) or None (default).

    Raises :class:`DeviceError` naming the candidates when nothing or more
    than one device matches.
    """
    if kind not in ("input", "output"):
        raise ValueError(f"kind must be 'input' or 'output', got {kind!r}")
    _, devices = query()
    chans = "max_input_channels" if kind == "input" else "max_output_channels"
    usable = [d for d in devices if getattr(d, chans) > 0]
    if hostapi:
        usable = [d for d in usable if hostapi.lower() in d.hostapi.lower()]
    if not usable:
        where = f" on host API '{hostapi}'" if hostapi else ""
        raise DeviceError(f"no audio {kind} device found{where}")
    if spec is None or spec == "":
        flag = "is_default_input" if kind == "input" else "is_default_output"
        return next((d for d in usable if getattr(d, flag)), usable[0])
    if isinstance(spec, int) or str(spec).strip().isdigit():
        index = int(spec)
        for d in usable:
            if d.index == index:
                return d
        raise DeviceError(f"device {index} is not an {kind} device; {kind}s: {_names(usable)}")
    text = str(spec).strip().lower()
    exact = [d for d in usable if d.name.lower() == text or d.label.lower() == text]
    matches = exact or [d for d in usable if text in d.label.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise DeviceError(f"no {kind} device matches '{spec}'; {kind}s: {_names(usable)}")
    raise DeviceError(f"'{spec}' matches several {kind} devices: {_names(matches)}")


def _names(devices: list[DeviceInfo]) -> str:
    return "; ".join(f"[{d.index}] {d.label}" for d in devices)


def check_settings(device: DeviceInfo, kind: str, rate: float, channels: int) -> None:
    """Raise :class:`DeviceError` if ``device`` refuses ``rate``/``channels`` for ``kind``."""
    sd = _sd()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device.index, samplerate=rate, channels=channels, dtype="float32")
    except Exception as exc:  # noqa: BLE001 - sounddevice raises PortAudioError/ValueError
        raise DeviceError(
            f"{kind} device '{device.label}' refuses {channels} channel(s) at {rate:g} Hz: {exc}"
        ) from exc


_JACK_NAME: bytes | None = None  # PortAudio keeps the pointer: keep the bytes alive


def set_jack_client_name(name: str) -> bool:
    """Name PortAudio's JACK client (ports become ``name:in_0`` ...); re-initialises.

    Best effort: returns False when PortAudio lacks the JACK host API.
    """
    global _JACK_NAME
    sd = _sd()
    try:
        fn = ctypes.CDLL(sd._libname).PaJack_SetClientName
    except (OSError, AttributeError):
        return False
    _JACK_NAME = name.encode()
    fn.argtypes = [ctypes.c_char_p]
    if fn(_JACK_NAME) != 0:
        return False
    rescan()
    return True


def query_isolated(timeout: float = 15.0) -> tuple[list[HostApiInfo], list[DeviceInfo]]:
    """:func:`query` run in a short-lived child process (safe to repeat; see module doc)."""
    cmd = [sys.executable, "-m", "engine.audio.devices", "--json"]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=child_env(), check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise DeviceError(f"listing audio devices timed out after {timeout:g} s") from exc
    if done.returncode != 0:
        raise DeviceError(f"listing audio devices failed: {done.stderr.strip()[-400:]}")
    data = json.loads(done.stdout)
    apis = [HostApiInfo(**{**a, "devices": tuple(a["devices"])}) for a in data["hostapis"]]
    return apis, [DeviceInfo(**d) for d in data["devices"]]


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.audio.devices --json``: print :func:`query` as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    apis, devices = query()
    if args.json:
        json.dump(
            {"hostapis": [asdict(a) for a in apis], "devices": [asdict(d) for d in devices]},
            sys.stdout,
        )
    else:
        for d in devices:
            print(d.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
