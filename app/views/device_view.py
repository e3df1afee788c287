"""Device panel: host API, input and output pickers, rate, block size, latency hint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from app import theme
from app.settings import BLOCK_SIZES, SAMPLE_RATES


@dataclass(frozen=True)
class DeviceCatalogue:
    """What the pickers offer: device names per host API, and each API's defaults.

    Host APIs without a single input or output device are left out by the
    controller ("inactive ones hidden").
    """

    host_apis: Sequence[str]
    inputs: Mapping[str, Sequence[str]]
    outputs: Mapping[str, Sequence[str]]
    default_input: Mapping[str, str]
    default_output: Mapping[str, str]


@dataclass(frozen=True)
class DeviceSelection:
    """The panel's current choice; an empty device name is the API's default."""

    host_api: str
    input_name: str
    output_name: str
    sample_rate: int
    block_size: int
    latency: str
    margin_ms: float = 0.0  # 0: automatic


#: Safety margins offered (ms beyond one block); 0 is the engine's automatic one.
MARGINS_MS = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0)


class DeviceView(QGroupBox):
    """Pickers for the audio devices; emits :attr:`changed` on every user change."""

    changed = Signal()
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Audio devices", parent)
        self._catalogue = DeviceCatalogue((), {}, {}, {}, {})
        self.host_api = QComboBox()
        self.input = QComboBox()
        self.output = QComboBox()
        self.rate = QComboBox()
        for r in SAMPLE_RATES:
            self.rate.addItem(f"{r / 1000:g} kHz", r)
        self.block = QComboBox()
        self.latency = QComboBox()
        self.latency.addItem("Low", "low")
        self.latency.addItem("High (safer)", "high")
        self.margin = QComboBox()
        for ms in MARGINS_MS:
            self.margin.addItem(f"{ms:g} ms, fixed" if ms else "Automatic", ms)
        self.margin.setToolTip(
            "Audio kept in hand beyond one block. Automatic: sized from the models' "
            "step time and grown after a dropout. Fixed: the latency stays put and "
            "a late step is heard as a dropout."
        )
        self.refresh = QPushButton("&Refresh devices")
        self.refresh.setToolTip("Scan again for devices that were plugged in or removed")
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(f"color: {theme.WARN_COLOUR};")
        self.notice.hide()
        self._layout()
        self._fill_blocks(48_000)
        self.host_api.currentIndexChanged.connect(self._api_changed)
        for combo in (self.input, self.output, self.block, self.latency, self.margin):
            combo.currentIndexChanged.connect(self._user_changed)
        self.rate.currentIndexChanged.connect(self._rate_changed)
        self.refresh.clicked.connect(self.refresh_requested)

    def _layout(self) -> None:
        form = QFormLayout(self)
        form.addRow("&Host API", self.host_api)
        form.addRow("&Input", self.input)
        form.addRow("&Output", self.output)
        form.addRow("Sample &rate", self.rate)
        form.addRow("&Block size", self.block)
        form.addRow("&Latency", self.latency)
        form.addRow("Safety &margin", self.margin)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.refresh)
        form.addRow(row)
        form.addRow(self.notice)

    # -- what the controller sets ------------------------------------------------

    def set_catalogue(self, catalogue: DeviceCatalogue) -> None:
        """Offer these host APIs and devices (keeps the selection when still offered)."""
        current = self.selection()
        self._catalogue = catalogue
        _refill(self.host_api, [(api, api) for api in catalogue.host_apis])
        self.select(current)

    def select(self, sel: DeviceSelection) -> None:
        """Show ``sel``; names not offered fall back to the default entry."""
        blockers = [w.blockSignals(True) for w in self._combos()]
        try:
            _set_data(self.host_api, sel.host_api)
            self._fill_devices()
            _set_data(self.input, sel.input_name)
            _set_data(self.output, sel.output_name)
            _set_data(self.rate, sel.sample_rate)
            self._fill_blocks(sel.sample_rate)
            _set_data(self.block, sel.block_size)
            _set_data(self.latency, sel.latency)
            _set_data(self.margin, sel.margin_ms)
        finally:
            for w, was in zip(self._combos(), blockers, strict=True):
                w.blockSignals(was)

    def show_notice(self, text: str) -> None:
        """Show a warning under the pickers ("" hides it)."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    # -- what the controller reads -----------------------------------------------

    def selection(self) -> DeviceSelection:
        """The current choice."""
        return DeviceSelection(
            host_api=str(self.host_api.currentData() or ""),
            input_name=str(self.input.currentData() or ""),
            output_name=str(self.output.currentData() or ""),
            sample_rate=int(self.rate.currentData() or 48_000),
            block_size=int(self.block.currentData() or 256),
            latency=str(self.latency.currentData() or "low"),
            margin_ms=float(self.margin.currentData() or 0.0),
        )

    # -- internals --------------------------------------------------------------------

    def _combos(self) -> list[QComboBox]:
        return [
            self.host_api, self.input, self.output, self.rate, self.block, self.latency,
            self.margin,
        ]  # fmt: skip

    def _fill_devices(self) -> None:
        api = str(self.host_api.currentData() or "")
        cat = self._catalogue
        for combo, names, default in (
            (self.input, cat.inputs.get(api, ()), cat.default_input.get(api, "")),
            (self.output, cat.outputs.get(api, ()), cat.default_output.get(api, "")),
        ):
            label = f"Default ({default})" if default else "Default"
            _refill(combo, [(label, "")] + [(n, n) for n in names])

    def _fill_blocks(self, rate: int) -> None:
        keep = self.block.currentData()
        items = [(f"{b}  ({1000 * b / rate:.1f} ms)", b) for b in BLOCK_SIZES]
        _refill(self.block, items)
        _set_data(self.block, keep if keep is not None else 256)

    def _api_changed(self) -> None:
        self.input.blockSignals(True)
        self.output.blockSignals(True)
        self._fill_devices()
        self.input.blockSignals(False)
        self.output.blockSignals(False)
        self._user_changed()

    def _rate_changed(self) -> None:
        was = self.block.blockSignals(True)
        self._fill_blocks(int(self.rate.currentData()))
        self.block.blockSignals(was)
        self._user_changed()

    def _user_changed(self) -> None:
        self.changed.emit()


def _refill(combo: QComboBox, items: list[tuple[str, object]]) -> None:
    """Replace the items, keeping the current data when it is still offered."""
    keep = combo.currentData()
    was = combo.blockSignals(True)
    combo.clear()
    for text, data in items:
        combo.addItem(text, data)
    _set_data(combo, keep)
    combo.blockSignals(was)


def _set_data(combo: QComboBox, data: object) -> bool:
    """Select the item whose data is ``data``; the first item when none is. True if found."""
    index = -1 if data is None else combo.findData(data)
    combo.setCurrentIndex(max(index, 0) if combo.count() else -1)
    return index >= 0
