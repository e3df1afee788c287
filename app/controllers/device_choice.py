"""From PortAudio's device list to the pickers, and back to a remembered choice.

Pure functions (no Qt): which host APIs to offer (those with devices), which
devices under each, and what to do when a remembered device is gone.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.settings import DeviceChoice, Settings
from app.views.device_view import DeviceCatalogue, DeviceSelection
from engine.audio.devices import DeviceInfo, HostApiInfo


def catalogue_from(apis: Sequence[HostApiInfo], devices: Sequence[DeviceInfo]) -> DeviceCatalogue:
    """Group devices by host API; APIs without any input or output are hidden."""
    inputs: dict[str, list[str]] = {}
    outputs: dict[str, list[str]] = {}
    default_in: dict[str, str] = {}
    default_out: dict[str, str] = {}
    by_index = {d.index: d for d in devices}
    for d in devices:
        if d.max_input_channels > 0:
            inputs.setdefault(d.hostapi, []).append(d.name)
        if d.max_output_channels > 0:
            outputs.setdefault(d.hostapi, []).append(d.name)
    for api in apis:
        if api.default_input is not None and api.default_input in by_index:
            default_in[api.name] = by_index[api.default_input].name
        if api.default_output is not None and api.default_output in by_index:
            default_out[api.name] = by_index[api.default_output].name
    names = [a.name for a in apis if a.name in inputs or a.name in outputs]
    return DeviceCatalogue(tuple(names), inputs, outputs, default_in, default_out)


def preferred_api(catalogue: DeviceCatalogue, devices: Sequence[DeviceInfo]) -> str:
    """The API of the system default output, else the first offered."""
    for d in devices:
        if d.is_default_output and d.hostapi in catalogue.host_apis:
            return d.hostapi
    return catalogue.host_apis[0] if catalogue.host_apis else ""


def restore(
    settings: Settings, catalogue: DeviceCatalogue, devices: Sequence[DeviceInfo]
) -> tuple[DeviceSelection, str]:
    """The selection to show for ``settings``, and a notice when something fell back.

    A remembered host API or device that is not present now is replaced by
    the default, and the notice says which one and by what.
    """
    notes: list[str] = []
    api = settings.host_api
    if api not in catalogue.host_apis:
        fallback = preferred_api(catalogue, devices)
        if api:
            notes.append(f"Host API “{api}” is not available; using “{fallback}”.")
        api = fallback
    names = []
    for kind, choice, offered, default in (
        ("input", settings.input_device, catalogue.inputs, catalogue.default_input),
        ("output", settings.output_device, catalogue.outputs, catalogue.default_output),
    ):
        name = _still_there(choice, api, offered.get(api, ()))
        if name is None:
            notes.append(
                f"The remembered {kind} device “{choice.name}” is not connected; "
                f"using the default ({default.get(api, 'none')})."
            )
            name = ""
        names.append(name)
    sel = DeviceSelection(
        api,
        names[0],
        names[1],
        settings.sample_rate,
        settings.block_size,
        settings.latency,
        settings.safety_margin_ms,
    )
    return sel, " ".join(notes)


def _still_there(choice: DeviceChoice, api: str, offered: Sequence[str]) -> str | None:
    """The device name to select, "" for default, None when the device is gone."""
    if choice.is_default:
        return ""
    if choice.host_api and choice.host_api != api:
        return None
    return choice.name if choice.name in offered else None


def remember(sel: DeviceSelection) -> dict[str, object]:
    """Settings fields for a selection made in the panel."""
    return {
        "host_api": sel.host_api,
        "input_device": DeviceChoice(sel.input_name, sel.host_api if sel.input_name else ""),
        "output_device": DeviceChoice(sel.output_name, sel.host_api if sel.output_name else ""),
        "sample_rate": sel.sample_rate,
        "block_size": sel.block_size,
        "latency": sel.latency,
        "safety_margin_ms": sel.margin_ms,
    }
