"""The app's one typed settings model, persisted as JSON in the user config dir.

Everything the window remembers lives in :class:`Settings`. Files carry a
``version``; older versions are migrated step by step, unknown keys are
dropped and out-of-range values fall back to their defaults, each with a
warning. A file that cannot be read at all (bad JSON, a version of 1e400,
arrays nested past the recursion limit, ...) yields the defaults: it is kept
aside as ``settings.json.bad`` and :func:`load_checked` says so, for the
window to show. A settings file must never stop the app from starting.

Tests point the location elsewhere with ``STREAMVOX_CONFIG_DIR``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from engine.atomic_file import write_text
from engine.chain import DEFAULT_CHUNK
from engine.live.taps import check_tap
from engine.stage import MAX_CHUNK, MIN_CHUNK

log = logging.getLogger(__name__)

SETTINGS_VERSION = 2
CONFIG_DIR_ENV = "STREAMVOX_CONFIG_DIR"
FILE_NAME = "settings.json"
#: Suffix of an unreadable settings file kept aside for the user to look at.
BAD_SUFFIX = ".bad"

#: Our own taps, in order: keys 1-4 select them.
TAPS = ("dry", "codec", "vocoder", "codec+vocoder")
#: What the A and B choosers offer (canonical tap names, see engine.live.taps);
#: a slot may hold any other tap too (``streamvox run --a/--b``, older files).
AB_TAPS = (
    *TAPS,
    "vocoder@lookahead",
    "codec+vocoder@lookahead",
    "opus@9.3/20ms",
    "opus@12/20ms",
    "opus@16/20ms",
    "opus@24/20ms",
    "mulaw@64",
    "alaw@64",
    "amrwb@8.85",
    "amrwb@12.65",
    "speex@9.8",
    "codec2@3.2",
    "opus@9.3/20ms+vocoder",
    "amrwb@8.85+vocoder",
    "pghi@512/128",
    "codec+pghi@512/128",
)
SLOTS = ("A", "B")
#: What the Link tab sends and receives (engine.link.endpoints.SEND_CHAINS).
LINK_CHAINS = ("codec", "opus")
CHUNK_RANGE = (MIN_CHUNK, MAX_CHUNK)
#: Largest fixed safety margin offered (ms).
MAX_MARGIN_MS = 200.0
GAIN_RANGE_DB = (-40.0, 20.0)
BLOCK_SIZES = (64, 128, 256, 512, 1024, 2048)
SAMPLE_RATES = (16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000)


@dataclass(frozen=True)
class DeviceChoice:
    """A remembered device, by name and host API (indices change between runs)."""

    name: str = ""
    host_api: str = ""

    @property
    def is_default(self) -> bool:
        """An empty name means "the host API's default device"."""
        return not self.name


@dataclass(frozen=True)
class Settings:
    """Everything the app remembers between runs."""

    version: int = SETTINGS_VERSION
    host_api: str = ""
    input_device: DeviceChoice = field(default_factory=DeviceChoice)
    output_device: DeviceChoice = field(default_factory=DeviceChoice)
    sample_rate: int = 48_000
    block_size: int = 256
    #: PortAudio latency hint: "low", "high" or a number of seconds as text.
    latency: str = "low"
    #: Output safety margin beyond one block, ms; 0 = automatic (sized from the
    #: models' step time, grown after a dropout). A fixed margin never grows.
    safety_margin_ms: float = 0.0
    codec_enabled: bool = True
    vocoder_enabled: bool = True
    #: Model-store name (see the Models dialog); "" means the bundled default.
    codec_weights: str = ""
    vocoder_weights: str = ""
    chunk: int = DEFAULT_CHUNK
    #: The tap heard (any tap name, see AB_TAPS); it sits in slot ``tap_slot``.
    tap: str = "codec+vocoder"
    #: The tap in the other slot: the one Space flips to.
    previous_tap: str = "dry"
    tap_slot: str = "B"
    level_match: bool = True
    master_bypass: bool = False
    input_gain_db: float = 0.0
    output_gain_db: float = 0.0
    muted: bool = False
    #: The Link tab's ends: the peer sent to, the port and address listened on, the chain.
    link_peer: str = "127.0.0.1:5004"
    link_port: int = 5004
    link_bind: str = "127.0.0.1"
    link_chain: str = "codec"
    #: ``QMainWindow.saveGeometry()`` / ``saveState()`` as hex text.
    window_geometry: str = ""
    window_state: str = ""

    def __post_init__(self) -> None:
        """Refuse values the engine could not use; keep taps by their canonical names."""
        for f in fields(self):
            value = getattr(self, f.name)
            check = _VALID.get(f.name)
            if check is not None and not check(value):
                raise ValueError(f"invalid setting {f.name}={value!r}")
        for name in ("tap", "previous_tap"):
            object.__setattr__(self, name, check_tap(getattr(self, name)))

    def ab_slots(self) -> dict[str, str]:
        """What slots A and B hold."""
        other = "A" if self.tap_slot == "B" else "B"
        return {self.tap_slot: self.tap, other: self.previous_tap}


def ab_update(slots: dict[str, str], selected: str) -> dict[str, str]:
    """The ``Settings`` fields that remember an A/B assignment (for ``replace``/``update``)."""
    other = "A" if selected == "B" else "B"
    return {"tap": slots[selected], "previous_tap": slots[other], "tap_slot": selected}


def _tap_ok(tap: str) -> bool:
    try:
        check_tap(tap)
    except ValueError:
        return False
    return True


def _latency_ok(text: str) -> bool:
    if text in ("low", "high"):
        return True
    try:
        return 0.0 < float(text) < 1.0
    except ValueError:
        return False


def _gain_ok(db: float) -> bool:
    return GAIN_RANGE_DB[0] <= db <= GAIN_RANGE_DB[1]


#: Range checks per field; fields not listed accept any value of their type.
_VALID: dict[str, Callable[[Any], bool]] = {
    "tap": _tap_ok,
    "previous_tap": _tap_ok,
    "tap_slot": lambda v: v in SLOTS,
    "chunk": lambda v: CHUNK_RANGE[0] <= v <= CHUNK_RANGE[1],
    # the ranges the engine's StreamSpec accepts
    "sample_rate": lambda v: 8_000 <= v <= 384_000,
    "block_size": lambda v: 16 <= v <= 8192,
    "input_gain_db": _gain_ok,
    "output_gain_db": _gain_ok,
    "latency": _latency_ok,
    "safety_margin_ms": lambda v: 0.0 <= v <= MAX_MARGIN_MS,
    "link_port": lambda v: 0 <= v <= 65535,
    "link_chain": lambda v: v in LINK_CHAINS,
}


def config_dir() -> Path:
    """The settings folder: ``$STREAMVOX_CONFIG_DIR`` or the platform's user config dir."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_config_dir("streamvox"))


def settings_path() -> Path:
    """Full path of the settings file."""
    return config_dir() / FILE_NAME


# -- migration ----------------------------------------------------------------


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the chain as one string and devices as bare names.

    v1: ``{"chain": "codec,vocoder", "input": "Mic", "output": "Phones",
    "gain_in": 1.0, "gain_out": 0.5, ...}`` (linear gains).
    """
    out = dict(data)
    chain = str(out.pop("chain", "codec,vocoder"))
    stages = {s for s in chain.replace("+", ",").split(",") if s}
    out["codec_enabled"] = "codec" in stages
    out["vocoder_enabled"] = "vocoder" in stages
    host = str(out.get("host_api", ""))
    for old, new in (("input", "input_device"), ("output", "output_device")):
        if old in out:
            out[new] = {"name": str(out.pop(old) or ""), "host_api": host}
    for old, new in (("gain_in", "input_gain_db"), ("gain_out", "output_gain_db")):
        if old in out:
            gain = float(out.pop(old))
            out[new] = GAIN_RANGE_DB[0] if gain <= 0 else round(20.0 * math.log10(gain), 2)
    out["version"] = 2
    return out


#: ``MIGRATIONS[n]`` turns a version-n dict into a version-(n+1) dict.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a settings dict of any known version up to :data:`SETTINGS_VERSION`."""
    version = int(data.get("version", 1))
    if version > SETTINGS_VERSION:
        log.warning(
            "settings file version %d is newer than this app (%d); keeping the fields it knows",
            version,
            SETTINGS_VERSION,
        )
        return {**data, "version": SETTINGS_VERSION}
    while version < SETTINGS_VERSION:
        data = MIGRATIONS[version](data)
        version = int(data["version"])
    return data


# -- conversion ----------------------------------------------------------------


def to_dict(s: Settings) -> dict[str, Any]:
    """JSON-ready dict of ``s``."""
    return asdict(s)


def from_dict(data: dict[str, Any]) -> Settings:
    """Build Settings from a (migrated) dict; bad or unknown values warn and use defaults."""
    defaults = Settings()
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in known:
            log.warning("settings: ignoring unknown key %r", key)
            continue
        value = _coerce(raw, getattr(defaults, key))
        check = _VALID.get(key)
        if value is None or (check is not None and not check(value)):
            log.warning("settings: %s=%r is not valid; using the default", key, raw)
            continue
        values[key] = value
    values["version"] = SETTINGS_VERSION
    return replace(defaults, **values)


def _coerce(raw: Any, default: Any) -> Any:
    """``raw`` converted to the type of ``default``, or None when it cannot be."""
    if isinstance(default, DeviceChoice):
        if isinstance(raw, dict) and set(raw) <= {"name", "host_api"}:
            return DeviceChoice(str(raw.get("name", "")), str(raw.get("host_api", "")))
        return None
    if isinstance(default, bool):
        return raw if isinstance(raw, bool) else None
    if isinstance(default, int):
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if isinstance(default, float):
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        return float(raw) if ok and math.isfinite(raw) else None
    return raw if isinstance(raw, str) else None


# -- persistence ---------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """Settings as loaded, and what the user should be told (None: nothing)."""

    settings: Settings
    notice: str | None = None


def load(path: Path | None = None) -> Settings:
    """Read the settings file; defaults when it is absent, unreadable or corrupt."""
    return load_checked(path).settings


def load_checked(path: Path | None = None) -> Loaded:
    """Like :func:`load`; an unreadable file is moved to ``<name>.bad`` and noticed."""
    path = settings_path() if path is None else path
    if not path.exists():
        return Loaded(Settings())
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("the top level is not a JSON object")
        return Loaded(from_dict(migrate(data)))
    except Exception as exc:  # noqa: BLE001 - whatever the file holds, the app starts
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        log.warning("settings file %s is unreadable (%s); using the defaults", path, reason)
        return Loaded(Settings(), _set_aside(path))


def _set_aside(path: Path) -> str:
    """Move an unreadable settings file out of the way; the line to show the user."""
    bad = path.with_name(path.name + BAD_SUFFIX)
    try:
        os.replace(path, bad)
    except OSError as exc:
        log.warning("could not move %s aside: %s", path, exc)
        return f"Settings file {path} could not be read; using the default settings."
    return f"Settings file could not be read; using the default settings (kept as {bad})."


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write ``settings`` atomically (temporary file, then rename); return the path."""
    path = settings_path() if path is None else path
    write_text(path, json.dumps(to_dict(settings), indent=2, sort_keys=True) + "\n")
    return path
