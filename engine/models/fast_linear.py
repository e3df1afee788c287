"""Inference-only Linear layers in several weight precisions, for the fast paths.

At 1..10 frames per call the Vocos matmuls are memory-bound (M = frames,
weights of 0.8-3 MB each streamed from L3), so the speed-up comes from
smaller weights, not from more FLOPs:

* ``fp32``: ``addmm`` with the weight stored pre-transposed ``(in, out)``,
  which MKL runs faster than ``F.linear`` for small M. Exact.
* ``fp16``: fbgemm fp16 weights, fp32 activations and accumulation.
* ``bf16``: oneDNN prepacked bf16 weights and activations (AMX/AVX512-BF16).
* ``int8``: fbgemm dynamic quantisation: int8 per-output-channel weights,
  activations quantised per call (per tensor, full 8-bit range), int32
  accumulation with VNNI. Output depends slightly on what else is in the
  call (the activation scale), so chunk sizes agree only to a tolerance.

All take ``(..., in)`` float32 and return ``(..., out)`` float32.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

PRECISIONS = ("fp32", "fp16", "bf16", "int8")


def available_precisions() -> tuple[str, ...]:
    """The precisions this CPU and torch build can run (``fp32`` always)."""
    engines = torch.backends.quantized.supported_engines
    out = ["fp32"]
    if "fbgemm" in engines or "x86" in engines:
        out.append("fp16")
    if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        out.append("bf16")
    if any(e in engines for e in ("x86", "fbgemm", "qnnpack")):
        out.append("int8")
    return tuple(out)


def check_precision(precision: str) -> str:
    """Return ``precision`` if known and runnable here, else raise ``ValueError``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision not in available_precisions():
        raise ValueError(
            f"precision {precision!r} is not supported by this CPU/torch build; "
            f"available: {', '.join(available_precisions())}"
        )
    return precision


def make_linear(weight: torch.Tensor, bias: torch.Tensor, precision: str) -> nn.Module:
    """Frozen copy of ``y = x @ weight.T + bias`` (weight ``(out, in)``) in ``precision``."""
    check_precision(precision)
    w = weight.detach().float().contiguous()
    b = bias.detach().float().contiguous()
    if w.dim() != 2 or b.shape != (w.shape[0],):
        raise ValueError(f"need weight (out, in) and bias (out,), got {w.shape} and {b.shape}")
    if precision == "fp32":
        return Fp32Linear(w, b)
    if precision == "bf16":
        return Bf16Linear(w, b)
    return PackedLinear(w, b, precision)


class Fp32Linear(nn.Module):
    """``addmm`` on a pre-transposed ``(in, out)`` weight."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.out_features = int(weight.shape[0])
        self.register_buffer("weight_t", weight.t().contiguous())
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., in)`` -> ``(..., out)``."""
        shape = list(x.shape[:-1])
        shape.append(self.out_features)
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight_t).view(shape)


class Bf16Linear(nn.Module):
    """oneDNN linear on a prepacked bf16 weight; casts in and out of bf16."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        packed = torch.ops.mkldnn._reorder_linear_weight(weight.to(torch.bfloat16), None)
        self.register_buffer("weight_packed", packed)
        self.register_buffer("bias", bias.to(torch.bfloat16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., in)`` -> ``(..., out)``."""
        y = torch.ops.mkldnn._linear_pointwise(
            x.to(torch.bfloat16), self.weight_packed, self.bias, "none", [], ""
        )
        return y.float()


def _quantized_engine() -> str:
    engines = torch.backends.quantized.supported_engines
    for name in ("x86", "fbgemm", "qnnpack"):
        if name in engines:
            return name
    raise ValueError("this torch build has no quantized CPU engine")


class PackedLinear(nn.Module):
    """fbgemm/qnnpack packed weights: dynamic int8, or fp16 weights."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, precision: str) -> None:
        super().__init__()
        self.int8 = precision == "int8"
        previous = torch.backends.quantized.engine
        torch.backends.quantized.engine = _quantized_engine()
        try:
            self._packed = _pack_int8(weight, bias) if self.int8 else _pack_fp16(weight, bias)
        finally:
            torch.backends.quantized.engine = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., in)`` -> ``(..., out)``."""
        if self.int8:
            # reduce_range=False: VNNI accumulates without the 16-bit overflow
            # that 7-bit activations avoid on older CPUs (+5 dB SNR, measured).
            return torch.ops.quantized.linear_dynamic(x, self._packed, False)
        return torch.ops.quantized.linear_dynamic_fp16(x, self._packed)


def _pack_int8(weight: torch.Tensor, bias: torch.Tensor):
    """Symmetric per-output-channel int8 weight, packed for the engine."""
    scale = (weight.abs().amax(dim=1) / 127.0).clamp(min=1e-12).double()
    zero = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # quantized tensor creation warns of a future removal
        warnings.simplefilter("ignore", UserWarning)
        qweight = torch.quantize_per_channel(weight, scale, zero, 0, torch.qint8)
    return torch.ops.quantized.linear_prepack(qweight, bias)


def _pack_fp16(weight: torch.Tensor, bias: torch.Tensor):
    return torch.ops.quantized.linear_prepack_fp16(weight, bias)
