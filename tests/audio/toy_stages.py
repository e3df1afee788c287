"""Small deterministic HopStages standing in for the models in engine tests."""

import numpy as np

from engine.stage import HopStage


class GainStage(HopStage):
    """Scales its input; a stateful running sum makes cold starts visible."""

    def __init__(self, hop: int, gain: float, name: str) -> None:
        super().__init__(hop)
        self.gain = np.float32(gain)
        self.name = name
        self.steps = 0

    def step(self, hop_in):
        self.steps += 1
        return hop_in * self.gain

    def reset_state(self):
        self.steps = 0

    def offline(self, x):
        return np.asarray(x, np.float32) * self.gain


def toy_factory(codec_gain: float = 0.5, vocoder_gain: float = 0.8):
    """``factory(kind, chunk)``: codec hop 240, vocoder hop 320 * chunk."""

    def factory(kind: str, chunk: int) -> HopStage:
        if kind == "codec":
            return GainStage(240, codec_gain, "codec")
        return GainStage(320 * chunk, vocoder_gain, "vocoder")

    return factory
