"""Remembered devices: grouping by host API, restore, missing device fallback."""

from app.controllers.device_choice import catalogue_from, remember, restore
from app.settings import DeviceChoice, Settings
from engine.audio.devices import DeviceInfo, HostApiInfo


def dev(index, name, api, ins, outs, default_in=False, default_out=False):
    return DeviceInfo(
        index, name, api, ins, outs, 48000.0, 0.01, 0.1, 0.01, 0.1, default_in, default_out
    )


DEVICES = [
    dev(0, "USB Mic", "ALSA", 1, 0),
    dev(1, "Built-in", "ALSA", 2, 2, default_in=True, default_out=True),
    dev(2, "system", "JACK Audio Connection Kit", 2, 2),
]
APIS = [
    HostApiInfo(0, "ALSA", (0, 1), 1, 1),
    HostApiInfo(1, "OSS", (), None, None),
    HostApiInfo(2, "JACK Audio Connection Kit", (2,), 2, 2),
]


def test_catalogue_hides_empty_apis_and_groups_devices():
    cat = catalogue_from(APIS, DEVICES)
    assert cat.host_apis == ("ALSA", "JACK Audio Connection Kit")
    assert cat.inputs["ALSA"] == ["USB Mic", "Built-in"]
    assert cat.outputs["ALSA"] == ["Built-in"]
    assert cat.default_input["JACK Audio Connection Kit"] == "system"


def test_present_device_is_restored_without_notice():
    s = Settings(host_api="ALSA", input_device=DeviceChoice("USB Mic", "ALSA"), block_size=128)
    sel, notice = restore(s, catalogue_from(APIS, DEVICES), DEVICES)
    assert (sel.host_api, sel.input_name, sel.output_name, sel.block_size) == (
        "ALSA",
        "USB Mic",
        "",
        128,
    )
    assert notice == ""


def test_missing_device_falls_back_to_default_and_says_so():
    s = Settings(host_api="ALSA", input_device=DeviceChoice("Yeti Stereo", "ALSA"))
    sel, notice = restore(s, catalogue_from(APIS, DEVICES), DEVICES)
    assert sel.input_name == ""
    assert "Yeti Stereo" in notice and "Built-in" in notice


def test_missing_host_api_falls_back_to_the_default_outputs_api():
    s = Settings(host_api="CoreAudio", output_device=DeviceChoice("Phones", "CoreAudio"))
    sel, notice = restore(s, catalogue_from(APIS, DEVICES), DEVICES)
    assert sel.host_api == "ALSA" and sel.output_name == ""
    assert "CoreAudio" in notice and "Phones" in notice


def test_remember_round_trips_through_restore():
    cat = catalogue_from(APIS, DEVICES)
    sel, _ = restore(Settings(), cat, DEVICES)
    chosen = sel.__class__("JACK Audio Connection Kit", "system", "", 44_100, 512, "high")
    again, notice = restore(Settings(**remember(chosen)), cat, DEVICES)
    assert again == chosen and notice == ""
