"""Real-time phase reconstruction from STFT magnitude (RTPGHI, no look-ahead).

A DSP reference for the vocoders: given only magnitude frames, it makes a
phase frame by frame, so "the network beats DSP" can be measured against a
method that streams. Průša & Holighaus, "A Noniterative Method for
Reconstruction of Phase from STFT Magnitude" (2017), and Průša & Søndergaard,
"Real-Time Spectrogram Inversion Using Phase Gradient Heap Integration"
(2016): for a Gaussian window the phase gradient follows from the
log-magnitude gradient,

- time derivative of the phase  <- frequency derivative of log |S|,
- frequency derivative of the phase <- time derivative of log |S|,

both scaled by the Gaussian's ``lambda``; a Hann window of length ``n_fft``
behaves like a Gaussian with ``lambda = 0.25645 * n_fft**2``. Phases are then
integrated from the largest coefficients outwards (a heap over the previous
and the current frame). The time derivative of log |S| uses a second-order
*backward* difference (current and two previous frames), so a frame's phase
is known as soon as its magnitude is: no frame of look-ahead. Given the next
frame too (:meth:`RTPGHI.step`'s ``next_frame``), it uses the *centred*
difference instead, as the offline PGHI does: one frame (one hop) later,
measurably better (docs: engine/training/README.md).

Framing is the project's causal one (:mod:`engine.dsp.mel`): frame ``t``
covers samples ``[hop*t - (n_fft-hop), hop*t + hop)``, periodic Hann window,
``numpy.fft.rfft`` of the windowed frame (phase referenced to the frame's
first sample). :func:`causal_stft` / :func:`causal_istft` are that analysis
and its least-squares overlap-add inverse.
"""

from __future__ import annotations

import heapq

import numpy as np

#: Hann window's Gaussian-equivalent constant: ``lambda = C_g * n_fft**2`` (ltfatnote043).
HANN_LAMBDA_CONSTANT = 0.25645
#: Coefficients below this fraction of the largest (in either frame) get a random phase.
DEFAULT_TOL = 1e-5
_TINY = 1e-300
_TWO_PI = 2.0 * np.pi


def hann_window(n_fft: int) -> np.ndarray:
    """Periodic Hann window, as the mel front end's ``torch.hann_window``."""
    return 0.5 - 0.5 * np.cos(_TWO_PI * np.arange(n_fft) / n_fft)


def hann_lambda(n_fft: int) -> float:
    """Time-frequency spread of the Gaussian closest to a Hann window of ``n_fft``."""
    return HANN_LAMBDA_CONSTANT * n_fft**2


def wrap(phase: np.ndarray) -> np.ndarray:
    """Angles to ``[-pi, pi)``: keeps the running phase small and exact in float64."""
    return (phase + np.pi) % _TWO_PI - np.pi


class RTPGHI:
    """Streaming phase from magnitude: :meth:`step` takes one frame, returns its phase.

    State is what the next frame's integration needs: the last two frames'
    log magnitude (backward difference in time), the last phase and the last
    time derivative of the phase. Below-tolerance bins get a phase from a
    seeded generator, so a stream and :func:`rtpghi` on the whole spectrogram
    give identical output.
    """

    def __init__(self, n_fft: int, hop: int, tol: float = DEFAULT_TOL, seed: int = 0) -> None:
        if not 0 < hop <= n_fft:
            raise ValueError(f"need 0 < hop <= n_fft, got hop={hop}, n_fft={n_fft}")
        if not 0.0 < tol < 1.0:
            raise ValueError(f"tol must be in (0, 1), got {tol}")
        self.n_fft = n_fft
        self.hop = hop
        self.n_bins = n_fft // 2 + 1
        lam = hann_lambda(n_fft)
        bins = np.arange(self.n_bins)
        # d(phase)/dt per hop = hop*n_fft/lam * d(log|S|)/d(bin) + 2*pi*hop*bin/n_fft
        self._t_scale = hop * n_fft / (2.0 * lam)  # 1/2 of the centred difference folded in
        self._t_bias = _TWO_PI * hop * bins / n_fft
        # d(phase)/d(bin) = -lam/(hop*n_fft) * d(log|S|)/d(frame)
        self._f_scale = -lam / (2.0 * hop * n_fft)  # 1/2 of the (3, -4, 1) difference folded in
        # Window-centred phase (what the Gaussian theory gives) -> frame-start phase.
        self._to_frame_start = -np.pi * bins
        self._log_tol = float(np.log(tol))
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        """Start a new stream (the first frame is taken as preceded by copies of itself)."""
        self._rng = np.random.default_rng(self._seed)
        self._log_prev: np.ndarray | None = None
        self._log_prev2: np.ndarray | None = None
        self._phase_prev = np.zeros(self.n_bins)
        self._tgrad_prev = np.zeros(self.n_bins)

    def step(self, mag_frame: np.ndarray, next_frame: np.ndarray | None = None) -> np.ndarray:
        """Phase (radians, ``[-pi, pi)``, frame-start reference) of one magnitude frame.

        ``next_frame``: the following frame's magnitude, when the caller can
        wait for it (centred time difference); None: backward difference.
        """
        log_mag = self._log(mag_frame)
        if self._log_prev is None:  # stationary start: no made-up onset
            self._log_prev = self._log_prev2 = log_mag
            self._tgrad_prev = self._time_gradient(log_mag)
        tgrad = self._time_gradient(log_mag)
        if next_frame is None:
            diff = 3.0 * log_mag - 4.0 * self._log_prev + self._log_prev2
        else:
            diff = self._log(next_frame) - self._log_prev
        fgrad = self._f_scale * diff
        phase = self._integrate(log_mag, tgrad, fgrad)
        self._log_prev2, self._log_prev = self._log_prev, log_mag
        self._phase_prev, self._tgrad_prev = phase, tgrad
        return wrap(phase + self._to_frame_start)

    def _log(self, mag_frame: np.ndarray) -> np.ndarray:
        mag = np.asarray(mag_frame, dtype=np.float64)
        if mag.shape != (self.n_bins,):
            raise ValueError(f"expected {self.n_bins} bins, got shape {mag.shape}")
        return np.log(np.maximum(mag, _TINY))

    def _time_gradient(self, log_mag: np.ndarray) -> np.ndarray:
        """Phase advance per hop of each bin; DC and Nyquist are symmetric (slope 0)."""
        slope = np.zeros(self.n_bins)
        slope[1:-1] = log_mag[2:] - log_mag[:-2]
        return self._t_scale * slope + self._t_bias

    def _integrate(self, log_mag: np.ndarray, tgrad: np.ndarray, fgrad: np.ndarray) -> np.ndarray:
        """Heap integration over (previous frame, current frame), largest first.

        Entries are ``(-log magnitude, index)``, index ``< n`` for the
        previous frame and ``>= n`` for the current one. The previous frame's
        entries are all known at the start, so they wait in a sorted list
        merged with the heap (the same order as one heap holding both, at
        half the heap's size). The loop runs on Python lists and floats (the
        same IEEE doubles as numpy's, so the same result): one-element numpy
        indexing costs several times more, and this runs once per frame live.
        """
        n = self.n_bins
        floor = max(float(log_mag.max()), float(self._log_prev.max())) + self._log_tol
        below = log_mag <= floor
        start = np.zeros(n)
        start[below] = self._rng.uniform(-np.pi, np.pi, int(below.sum()))
        todo = n - int(below.sum())
        phase, done = start.tolist(), below.tolist()
        neg_mag, fgrad_l = (-log_mag).tolist(), fgrad.tolist()
        advance = (0.5 * (self._tgrad_prev + tgrad) + self._phase_prev).tolist()
        leads = np.flatnonzero((self._log_prev > floor) & ~below)
        leads = leads[np.argsort(-self._log_prev[leads], kind="stable")]  # ties: lower index
        queue = list(zip((-self._log_prev[leads]).tolist(), leads.tolist(), strict=True))
        queued, heap = 0, []
        push, pop = heapq.heappush, heapq.heappop
        while todo:
            if queued < len(queue) and (not heap or queue[queued] < heap[0]):
                k = queue[queued][1]
                queued += 1
            elif heap:
                k = pop(heap)[1]
            else:  # nothing above tolerance leads here: start from the largest left
                k = int(np.argmax(np.where(done, -np.inf, log_mag)))
            if k < n:
                if not done[k]:
                    phase[k] = advance[k]
                    done[k] = True
                    todo -= 1
                    push(heap, (neg_mag[k], k + n))
                continue
            m = k - n
            for nb, sign in ((m + 1, 1.0), (m - 1, -1.0)):
                if 0 <= nb < n and not done[nb]:
                    phase[nb] = phase[m] + sign * 0.5 * (fgrad_l[m] + fgrad_l[nb])
                    done[nb] = True
                    todo -= 1
                    push(heap, (neg_mag[nb], nb + n))
        return wrap(np.array(phase))


def rtpghi(
    mag: np.ndarray,
    n_fft: int,
    hop: int,
    tol: float = DEFAULT_TOL,
    seed: int = 0,
    lookahead: bool = False,
) -> np.ndarray:
    """Phase of a whole time-major magnitude spectrogram ``(T, n_bins)``, frame by frame.

    ``lookahead``: each frame's phase also sees the next frame (the last one
    sees itself again, as a stream that ends there would).
    """
    state = RTPGHI(n_fft, hop, tol, seed)
    mag = np.asarray(mag, dtype=np.float64)
    if mag.ndim != 2:
        raise ValueError(f"expected (T, n_bins), got shape {mag.shape}")
    phase = np.zeros(mag.shape)
    for t, frame in enumerate(mag):
        nxt = mag[min(t + 1, len(mag) - 1)] if lookahead else None
        phase[t] = state.step(frame, nxt)
    return phase


def _check_framing(length: int, n_fft: int, hop: int) -> None:
    if not 0 < hop <= n_fft:
        raise ValueError(f"need 0 < hop <= n_fft, got hop={hop}, n_fft={n_fft}")
    if length % hop:
        raise ValueError(f"length {length} is not a multiple of hop {hop}")


def causal_stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Causal STFT ``(len(x)//hop, n_fft//2+1)``, framed as the mel front end's."""
    x = np.asarray(x, dtype=np.float64)
    _check_framing(len(x), n_fft, hop)
    padded = np.concatenate((np.zeros(n_fft - hop), x))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.fft.rfft(frames * hann_window(n_fft), axis=-1)


def causal_istft(spec: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Least-squares inverse of :func:`causal_stft` (window-weighted overlap-add).

    Samples near the end are covered by fewer frames; callers that need them
    feed ``n_fft - hop`` samples of zeros after the signal (a stream's flush).
    """
    n_frames = spec.shape[0]
    window = hann_window(n_fft)
    frames = np.fft.irfft(spec, n=n_fft, axis=-1) * window
    total = (n_frames - 1) * hop + n_fft
    out = np.zeros(total)
    envelope = np.zeros(total)
    for t in range(n_frames):
        out[t * hop : t * hop + n_fft] += frames[t]
        envelope[t * hop : t * hop + n_fft] += window**2
    out /= np.maximum(envelope, 1e-8)
    return out[n_fft - hop : n_fft - hop + n_frames * hop]
