"""Small deterministic HopStages standing in for the models in engine tests."""

import time

import numpy as np

from engine.stage import HopStage


class GainStage(HopStage):
    """Scales its input; ``sleep_ms`` per step stands in for a model's compute time."""

    def __init__(self, hop: int, gain: float, name: str, sleep_ms: float = 0.0) -> None:
        super().__init__(hop)
        self.gain = np.float32(gain)
        self.name = name
        self.sleep = sleep_ms / 1000.0
        self.steps = 0

    def step(self, hop_in):
        self.steps += 1
        if self.sleep:
            time.sleep(self.sleep)
        return hop_in * self.gain

    def reset_state(self):
        self.steps = 0

    def offline(self, x):
        return np.asarray(x, np.float32) * self.gain


def toy_factory(codec_gain: float = 0.5, vocoder_gain: float = 0.8, codec_sleep_ms: float = 0.0):
    """``factory(kind, chunk)``: codec hop 240, vocoder hop 320 * chunk."""

    def factory(kind: str, chunk: int) -> HopStage:
        if kind == "codec":
            return GainStage(240, codec_gain, "codec", codec_sleep_ms)
        return GainStage(320 * chunk, vocoder_gain, "vocoder")

    return factory
