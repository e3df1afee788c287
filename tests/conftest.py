"""Shared test set-up: keep torch to one thread so parallel jobs stay fast."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

torch.set_num_threads(1)
