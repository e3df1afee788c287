"""What the codec plays for a hop whose packet is missing: tokens made from the neighbours.

A hop's tokens are ``(n_codebooks, frames)``. In overlap-save mode a packet
holds the tokens of its whole 480-sample window: its first ``h`` frames
describe the previous hop's samples, its last ``h`` the new ones (``h`` =
frames per hop). In token-reuse mode it holds only the ``h`` new frames. The
strategies (measured in the README's link section; the default is the
best):

- ``mute``: silence.
- ``repeat``: the last packet's tokens again (OaS: the last window decoded
  again, so the last 15 ms repeat; reuse: the last hop's frames again).
- ``shift`` (OaS): a window of the last packet's new frames twice, so the
  decoder continues from where the last hop ended and then repeats it.
- ``interp`` (OaS, the default): when the next packet is already in the
  jitter buffer, the window ``[last packet's new frames, next packet's
  first frames]``, which describes the missing hop itself (the next window
  covered it); otherwise ``shift``. In reuse mode a packet holds only its
  hop's frames: the last packet's second half and the next packet's first
  half when the next is buffered, otherwise ``repeat``.

Every strategy but ``mute`` fades consecutive concealed hops: the first
plays at full level, each next one at ``fade`` times the one before, and
after ``max_hops`` the concealment is silent.
"""

from __future__ import annotations

import numpy as np

STRATEGIES = ("interp", "shift", "repeat", "mute")
DEFAULT_STRATEGY = "interp"


def concealment_codes(
    strategy: str,
    stream: str,
    last: np.ndarray,
    next_codes: np.ndarray | None,
    frames_per_hop: int,
) -> np.ndarray | None:
    """The codes to decode in place of a missing hop, or ``None`` for silence.

    ``last`` and ``next_codes`` are packets' codes ``(n_codebooks, frames)`` in
    the stream's layout (``next_codes`` may be ``None``: not arrived yet).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown concealment '{strategy}'; choose one of {', '.join(STRATEGIES)}")
    if strategy == "mute":
        return None
    h = frames_per_hop
    if stream != "oas":
        if strategy == "interp" and next_codes is not None:  # half from each side of the gap
            return np.concatenate([last[:, h // 2 :], next_codes[:, : h - h // 2]], axis=1)
        return last
    if strategy == "repeat":
        return last
    if strategy == "interp" and next_codes is not None:
        return np.concatenate([last[:, -h:], next_codes[:, :h]], axis=1)
    return np.concatenate([last[:, -h:], last[:, -h:]], axis=1)


class FadeOut:
    """Gain of the ``n``-th consecutive concealed hop: 1, fade, fade**2 ... then 0."""

    def __init__(self, fade: float = 0.7, max_hops: int = 8) -> None:
        if not 0.0 <= fade <= 1.0:
            raise ValueError(f"fade must be in 0..1, got {fade}")
        self.fade = fade
        self.max_hops = max_hops
        self.run = 0

    def next_gain(self) -> float:
        """The gain of one more concealed hop."""
        self.run += 1
        if self.run > self.max_hops:
            return 0.0
        return self.fade ** (self.run - 1)

    def received(self) -> None:
        """A real hop played: the next loss starts at full level."""
        self.run = 0
