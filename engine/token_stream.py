"""Audio to the codec's per-hop tokens and back, with the live stage's own encoder and decoder.

:func:`encode_signal` runs :meth:`CodecStage.encode_hop` over the signal laid
out as :meth:`CodecStage.offline` lays it out (the samples, then the model's
own delay in zeros, to whole hops); :func:`decode_signal` runs
:meth:`CodecStage.decode_hop` on each hop's tokens and removes that delay.
So ``decode_signal(encode_signal(x))`` is ``offline(x)``, which is what
``streamvox process x --chain codec`` writes (the stage contract). A hop's
tokens are sent frame by frame, codebook by codebook within a frame.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from engine.models.codec.model import TinyTransformerCodec
from engine.models.codec.stage import CodecStage
from engine.models.weights import recorded_delay
from engine.token_file import (
    FINGERPRINT_BYTES,
    MODE_NEW_FRAMES,
    MODE_OVERLAP_SAVE,
    TokenFileError,
    TokenHeader,
)

#: The file's ``mode`` field for each codec stream mode, and back.
FILE_MODES = {"oas": MODE_OVERLAP_SAVE, "reuse": MODE_NEW_FRAMES}
STREAMS = {mode: stream for stream, mode in FILE_MODES.items()}


def weights_fingerprint(model: TinyTransformerCodec) -> bytes:
    """sha256 of what decoding depends on (tensors, config, delay), first 8 bytes.

    Taken from the loaded tensors, not the file's bytes: the same weights
    saved as a seed ``.pt`` or as safetensors decode alike and match.
    """
    h = hashlib.sha256()
    # the stream mode is the header's own field: any weights decode in either mode
    config = {k: v for k, v in model.config.to_dict().items() if k not in ("dropout", "stream")}
    meta = {"config": config, "output_delay": recorded_delay(model)}
    h.update(json.dumps(meta, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        array = tensor.detach().cpu().float().contiguous().numpy()
        h.update(f"{name}:{array.shape}".encode())
        h.update(array.tobytes())
    return h.digest()[:FINGERPRINT_BYTES]


def hop_count(stage: CodecStage, samples: int) -> int:
    """Hops that carry ``samples`` samples plus the model's own delay."""
    return -(-(samples + stage.model_delay) // stage.hop)


def header_for(stage: CodecStage, samples: int) -> TokenHeader:
    """The header of a file of ``samples`` samples coded by ``stage``."""
    cfg = stage.model.config
    return TokenHeader(
        mode=FILE_MODES[stage.stream],
        sample_rate=stage.sample_rate,
        hop=stage.hop,
        window=stage.window,
        codebooks=cfg.n_codebooks,
        tokens_per_hop=stage.tokens_per_hop,
        bits_per_token=cfg.bits_per_token,
        fingerprint=weights_fingerprint(stage.model),
        sample_count=samples,
        hop_count=hop_count(stage, samples),
    )


def encode_signal(stage: CodecStage, x: np.ndarray) -> np.ndarray:
    """16 kHz mono ``x`` -> tokens ``(hops, tokens_per_hop)`` int64 (resets ``stage``)."""
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    hops = hop_count(stage, len(x))
    padded = np.zeros(hops * stage.hop, dtype=np.float32)
    padded[: len(x)] = x
    stage.reset()
    return np.stack(
        [stage.encode_hop(h).T.reshape(-1) for h in padded.reshape(hops, stage.hop)]
    ).astype(np.int64)


def decode_signal(stage: CodecStage, tokens: np.ndarray, samples: int) -> np.ndarray:
    """Tokens from :func:`encode_signal` -> the ``samples`` decoded samples (resets ``stage``).

    A stage with a longer seam fade than the encoder's waits longer than the
    file's hops cover: its last (fade difference) samples are then silent.
    """
    codebooks = stage.model.config.n_codebooks
    stage.reset()
    out = np.concatenate(
        [stage.decode_hop(t.reshape(-1, codebooks).T) for t in np.asarray(tokens, np.int64)]
    )
    d = stage.model_delay
    # a receiver may fade the seams over more samples than the encoder counted on
    # (decode --seam-fade): the file's last hop may then end before the audio does
    missing = max(0, d + samples - len(out))
    return np.concatenate([out[d : d + samples], np.zeros(missing, np.float32)])


def check_weights(header: TokenHeader, model: TinyTransformerCodec, path: str) -> None:
    """:class:`TokenFileError` unless the file was encoded with ``model``'s weights."""
    if header.fingerprint != (ours := weights_fingerprint(model)):
        raise TokenFileError(
            path,
            f"encoded with other codec weights (fingerprint {header.fingerprint.hex()}, these "
            f"weights {ours.hex()}); decode with the --codec-weights it was encoded with",
        )


def check_fits(header: TokenHeader, stage: CodecStage, path: str) -> None:
    """:class:`TokenFileError` unless ``stage`` (its weights, its mode) can decode the file."""
    check_weights(header, stage.model, path)
    if header.mode != FILE_MODES[stage.stream]:
        raise TokenFileError(
            path, f"mode {header.mode_name} does not fit a {stage.stream} codec stage"
        )
    want = header_for(stage, header.sample_count)
    for field in ("sample_rate", "hop", "window", "codebooks", "tokens_per_hop", "bits_per_token"):
        got, need = getattr(header, field), getattr(want, field)
        if got != need:
            raise TokenFileError(path, f"{field} {got} does not fit the weights' {need}")
    if header.hop_count != want.hop_count:
        raise TokenFileError(
            path,
            f"corrupt: {header.hop_count} hops for {header.sample_count} samples "
            f"(expected {want.hop_count})",
        )


def stream_of(header: TokenHeader, path: str) -> str:
    """The codec stage's stream mode that decodes ``header``'s tokens."""
    if header.mode not in STREAMS:
        raise TokenFileError(path, f"mode {header.mode_name} cannot be decoded by this streamvox")
    return STREAMS[header.mode]
