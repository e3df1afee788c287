"""The classical vocoder floor: causal log-mel -> pinv magnitude -> RTPGHI phase -> overlap-add.

What a trained vocoder must beat, made from exactly what it is given: the
causal 80-band log-mel of :class:`~engine.dsp.mel.CausalLogMel` (the same
module, so the same framing, window, ``1e-6`` magnitude epsilon and
``1e-5`` log floor). The mel is mapped back to linear-frequency bins with
the pseudo-inverse of the Slaney filterbank, the phase is made frame by frame
by :class:`~engine.dsp.pghi.RTPGHI` (no look-ahead), and the frames are
overlap-added with the window normalised by its own overlap envelope
(least-squares synthesis, as :func:`~engine.dsp.pghi.causal_istft`).

Frame ``t`` analyses input samples ``[hop*t - (n_fft-hop), hop*t + hop)``
and is synthesised over the same span. After frame ``t`` the first ``hop``
samples of that span get no more frames: :meth:`PghiVocoder.step` returns
them. So step ``t`` returns samples ``hop*t - (n_fft-hop) .. hop*t + 2*hop -
n_fft - 1``, which a :class:`~engine.stage.HopStage` emits one hop later:
the latency is exactly ``n_fft`` samples (32 ms at 512, 64 ms at 1024).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from engine.dsp.mel import CausalLogMel, MelStreamer, slaney_mel_filterbank
from engine.dsp.pghi import RTPGHI, hann_window

SAMPLE_RATE = 16_000
N_MELS = 80
#: Floor of the pinv magnitude (as the amplitude prior, ``mel_prior.PRIOR_FLOOR``):
#: the pseudo-inverse can go negative between band centres.
MAG_FLOOR = 1e-5


@lru_cache(maxsize=8)
def pinv_matrix(n_fft: int, n_mels: int = N_MELS) -> np.ndarray:
    """``(n_mels, n_fft//2+1)`` float64: ``mel_magnitude @ M`` is the least-squares magnitude.

    Cached (read-only): the SVD takes about 0.1 s, and every offline run and
    live stage set builds a fresh vocoder.
    """
    fb = slaney_mel_filterbank(SAMPLE_RATE, n_fft, n_mels).astype(np.float64)
    matrix = np.ascontiguousarray(np.linalg.pinv(fb).T)
    matrix.flags.writeable = False
    return matrix


def synthesis_window(n_fft: int, hop: int) -> np.ndarray:
    """Hann divided by the sum of squared Hanns overlapping each sample (period ``hop``).

    Overlap-adding ``irfft(analysis) * this`` gives back the signal exactly,
    for any ``hop <= n_fft`` (also when ``hop`` does not divide ``n_fft``).
    """
    window = hann_window(n_fft)
    square = np.concatenate((window**2, np.zeros(-n_fft % hop)))
    envelope = square.reshape(-1, hop).sum(axis=0)
    return window / np.tile(envelope, len(square) // hop)[:n_fft]


class PghiVocoder:
    """Frame-by-frame mel -> waveform; :meth:`step` takes a hop, returns the hop now final."""

    def __init__(
        self, n_fft: int = 512, hop: int = 128, n_mels: int = N_MELS, seed: int = 0
    ) -> None:
        self.n_fft, self.hop = n_fft, hop
        self.mel = CausalLogMel(SAMPLE_RATE, n_fft, hop, n_mels)
        self._streamer = MelStreamer(self.mel)
        self._pinv = pinv_matrix(n_fft, n_mels)
        self._phase = RTPGHI(n_fft, hop, seed=seed)
        self._window = synthesis_window(n_fft, hop)
        self._acc = np.zeros(n_fft)  # frame t's span; earlier frames already added

    def reset(self) -> None:
        """Back to the start of a stream: zero history, fresh phase state, empty overlap."""
        self._streamer.reset()
        self._phase.reset()
        self._acc.fill(0.0)

    def log_mel(self, hop_in: np.ndarray) -> np.ndarray:
        """The vocoder's log-mel frame ``(n_mels,)`` of the frame ending with ``hop_in``."""
        with torch.inference_mode():
            x = torch.from_numpy(np.asarray(hop_in, dtype=np.float32).reshape(1, -1))
            return self._streamer(x)[0, :, 0].numpy()

    def magnitude(self, log_mel: np.ndarray) -> np.ndarray:
        """Pseudo-inverse magnitude ``(n_bins,)`` float64 of one log-mel frame."""
        return np.maximum(np.exp(log_mel.astype(np.float64)) @ self._pinv, MAG_FLOOR)

    def frame(self, mag: np.ndarray) -> np.ndarray:
        """One synthesis frame ``(n_fft,)``: RTPGHI phase, inverse FFT, normalised window."""
        phase = self._phase.step(mag)
        return np.fft.irfft(mag * np.exp(1j * phase), n=self.n_fft) * self._window

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """``hop`` new samples in; the ``hop`` output samples no later frame touches, float32."""
        self._acc += self.frame(self.magnitude(self.log_mel(hop_in)))
        out = self._acc[: self.hop].astype(np.float32)
        self._acc[: -self.hop] = self._acc[self.hop :]
        self._acc[-self.hop :] = 0.0
        return out
