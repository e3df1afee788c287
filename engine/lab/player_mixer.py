"""The Lab player's crossfading A/B renderer (no device: pure numpy, used in the player's child).

Both signals are aligned (the chain's latency removed), so a flip keeps the
playback position and crossfades from one to the other over ``fade``
samples (raised-cosine gains that sum to one: the two versions are
correlated, so equal-gain keeps the level steady where equal-power would
bump it by up to 3 dB). A flip that arrives mid-fade reverses the fade from
where it is, so repeated flips never click.
"""

from __future__ import annotations

import numpy as np

SOURCES = ("original", "processed")


def source_index(source: str) -> int:
    """Index of ``source`` in :data:`SOURCES` (ValueError for anything else)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    return SOURCES.index(source)


class ABMixer:
    """Two aligned signals ``(2, L)`` and a read position; renders one or a crossfade.

    :meth:`render` runs in the audio callback and only writes into the
    caller's buffer. :meth:`flip` / :meth:`select` / :meth:`select_index` may
    be called from another thread (they only set one integer the renderer
    follows).
    """

    def __init__(self, original: np.ndarray, processed: np.ndarray, fade: int) -> None:
        if fade < 1:
            raise ValueError(f"fade must be >= 1 sample, got {fade}")
        a, b = np.asarray(original, np.float32), np.asarray(processed, np.float32)
        sig = np.zeros((2, max(a.shape[0], b.shape[0])), np.float32)
        sig[0, : a.shape[0]], sig[1, : b.shape[0]] = a, b
        self.sig = sig
        self.ramp = (0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)).astype(np.float32)
        self.pos = 0
        self.cur = self.want = 1  # indices into SOURCES
        self.fade_at = -1  # position in the ramp while fading, else -1

    @property
    def length(self) -> int:
        """Frames in the longer signal."""
        return self.sig.shape[1]

    def start(self, source: str, pos: int) -> None:
        """Jump to ``pos`` playing ``source`` (no fade: playback is stopped)."""
        self.cur = self.want = source_index(source)
        self.fade_at = -1
        self.pos = max(0, min(int(pos), self.length))

    def select(self, source: str) -> None:
        """Crossfade to ``source`` (nothing happens if it is already heard)."""
        self.want = source_index(source)

    def select_index(self, index: int) -> None:
        """:meth:`select` by index (0 original, 1 processed); no string, for the callback."""
        self.want = 1 if index else 0

    def flip(self) -> str:
        """Crossfade to the other source; return it."""
        self.want = 1 - self.want
        return SOURCES[self.want]

    def render(self, out: np.ndarray) -> int:
        """Write the next frames into ``out`` (zeros past the end); return frames of signal."""
        n = max(0, min(out.shape[0], self.length - self.pos))
        done = 0
        while done < n:
            done += self._fill(out[done:n], self.pos + done)
        out[n:] = 0.0
        self.pos += n
        return n

    def _fill(self, out: np.ndarray, pos: int) -> int:
        self._follow_request()
        sig, k = self.sig, out.shape[0]
        if self.fade_at < 0:
            out[:] = sig[self.cur, pos : pos + k]
            return k
        at = self.fade_at
        k = min(k, self.ramp.shape[0] - at)
        new, old = sig[self.want, pos : pos + k], sig[self.cur, pos : pos + k]
        np.subtract(new, old, out=out[:k])
        out[:k] *= self.ramp[at : at + k]
        out[:k] += old
        self.fade_at = at + k
        if self.fade_at >= self.ramp.shape[0]:
            self.cur, self.fade_at = self.want, -1
        return k

    def _follow_request(self) -> None:
        want, fading = self.want, self.fade_at >= 0
        if not fading and want != self.cur:
            self.fade_at = 0
        elif fading and want == self.cur:
            # reversed mid-fade: ramp[F - i] == 1 - ramp[i], so continue from the mirror point
            self.cur = 1 - want
            self.fade_at = self.ramp.shape[0] - self.fade_at
