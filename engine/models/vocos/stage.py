"""Streaming Vocos as a :class:`HopStage`: audio in, vocoded audio out, one chunk late."""

from __future__ import annotations

import numpy as np
import torch

from engine.dsp.start_gate import StartGate
from engine.models.vocos.fast import FastVocos
from engine.models.vocos.generator import VocosGenerator, stream_in_chunks
from engine.models.weights import recorded_delay
from engine.stage import DEFAULT_CHUNK, REFERENCE, HopStage, check_chunk


class VocosStage(HopStage):
    """Resynthesise the stream through log-mel + Vocos in chunks of ``chunk_frames`` frames.

    ``hop = 320 * chunk_frames`` samples (20 ms per frame at 16 kHz). The
    algorithmic latency is that one chunk plus ``model_delay``: the delay
    the weights were trained with (``output_delay_samples`` in our files;
    704 = n_fft - hop for our shipped weights, so that each ISTFT frame
    re-synthesises what its own mel frame heard; 0 for seed files). Output
    equals :meth:`offline` on the whole signal, delayed by ``latency``, for
    any block sizes; :meth:`offline` is aligned with its input.

    ``precision`` (``fp32 | fp16 | bf16 | int8``) selects the inference-only
    :class:`~engine.models.vocos.fast.FastVocos` path; ``"reference"`` runs
    the generator itself. With a fast path, or an RTPGHI-phase head (weights whose
    ``phase`` is ``"rtpghi"``), :meth:`offline` streams the whole signal in
    the same chunks, so the identity above still holds exactly.

    ``lookahead`` (RTPGHI heads only): each frame's phase waits for the next
    frame's magnitude (centred difference, the better phase): one hop (8 ms
    at the default's frames) more latency, added to ``model_delay``.
    """

    name = "vocoder"

    def __init__(
        self,
        model: VocosGenerator,
        chunk_frames: int = DEFAULT_CHUNK,
        precision: str = REFERENCE,
        lookahead: bool = False,
    ) -> None:
        check_chunk(chunk_frames, "chunk_frames")
        super().__init__(hop=model.config.hop * chunk_frames)
        self.sample_rate = model.config.sample_rate
        self.model = model.eval()
        self.chunk_frames = chunk_frames
        self.lookahead = lookahead
        # one frame of phase look-ahead plays every frame one hop later
        self.model_delay = output_delay(model) + (model.config.hop if lookahead else 0)
        # The first model_delay samples the generator releases answer no input yet
        # (its start-up transient); the contract says they are silence.
        self._gate = StartGate(self.model_delay)
        self.fast: FastVocos | None = None
        if precision == REFERENCE:
            self._state = model.new_stream_state(1, lookahead)
        else:
            self.fast = FastVocos.from_generator(model, precision)
            self.fast.warmup((chunk_frames,))
            self._state = self.fast.new_state(1, lookahead)

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """``hop`` samples in -> the ``hop`` samples their frames release."""
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(hop_in, dtype=np.float32)).view(1, -1)
            if self.fast is not None:
                y = self.fast.stream_step(x, self._state)[0].numpy()
            else:
                y = self.model.stream_step(x, self._state)[0].numpy()
        return self._gate(y.copy())  # copy: y may view the model's state

    def reset_state(self) -> None:
        """Forget mel history, conv caches and the overlap-add tail."""
        self._state.reset()
        self._gate.reset()

    def offline(self, x: np.ndarray) -> np.ndarray:
        """Whole signal ``(L,)`` -> ``(L,)`` aligned with it (generator or fast path)."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        n, d = x.shape[0], self.model_delay
        with torch.inference_mode():
            xt = torch.from_numpy(np.concatenate([x, np.zeros(d, np.float32)])).view(1, -1)
            if self.fast is not None:
                y = self.fast.audio_offline(xt, self.chunk_frames, self.lookahead)
            elif self.model.config.phase == "rtpghi":
                y = self._streamed(xt)
            else:
                y = self.model.audio_offline(xt)
        return y[0, d : d + n].numpy().astype(np.float32, copy=True)

    def _streamed(self, x: torch.Tensor) -> torch.Tensor:
        """``(1, L)`` through a fresh stream in this stage's chunks, ``(1, L)`` out.

        RTPGHI's heap order follows the magnitudes exactly, so a whole-signal
        pass (float rounding of a few 1e-7 apart) could, rarely, pick another
        integration path; streaming in the same chunks is the stream itself.
        """
        state = self.model.new_stream_state(1, self.lookahead)
        return stream_in_chunks(self.model.stream_step, state, x, self.hop)


def output_delay(model: VocosGenerator) -> int:
    """Samples by which ``model``'s output lags its input, as recorded at training."""
    delay = recorded_delay(model)
    if not 0 <= delay <= model.config.n_fft - model.config.hop:
        raise ValueError(f"implausible output delay {delay} samples recorded in the weights")
    return delay
