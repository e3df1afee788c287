"""The impairment simulator: seeded, the asked loss rate, bursts, jitter bounds, duplicates."""

import numpy as np
import pytest

from engine.link.impairment import Impairment, ImpairmentConfig, lost_indices

FRAME = 0.015


def _run(config, n=20000):
    sim = Impairment(config, FRAME)
    deliveries = [sim.schedule(i * FRAME) for i in range(n)]
    return sim, deliveries


def test_same_seed_same_losses():
    c = ImpairmentConfig(loss=0.1, jitter_s=0.02, reorder=0.05, duplicate=0.02, seed=7)
    a, da = _run(c, 2000)
    b, db = _run(c, 2000)
    assert da == db and a.stats.lost_indices == b.stats.lost_indices
    assert lost_indices(c, FRAME, 2000) == a.stats.lost_indices
    other, _ = _run(ImpairmentConfig(loss=0.1, seed=8), 2000)
    assert other.stats.lost_indices != a.stats.lost_indices


@pytest.mark.parametrize("burst", [1.0, 4.0])
def test_loss_rate_and_burst_length(burst):
    sim, deliveries = _run(ImpairmentConfig(loss=0.1, burst=burst, seed=1))
    lost = np.array([not d for d in deliveries])
    assert abs(lost.mean() - 0.1) < 0.02
    edges = np.flatnonzero(np.diff(np.concatenate([[0], lost.astype(int), [0]])))
    runs = edges[1::2] - edges[::2]
    assert abs(runs.mean() - (1 / 0.9 if burst == 1.0 else burst)) < 0.3 * burst


def test_jitter_reorder_duplicate():
    c = ImpairmentConfig(jitter_s=0.02, reorder=0.1, duplicate=0.05, seed=2)
    sim, deliveries = _run(c, 5000)
    delays = [t - i * FRAME for i, d in enumerate(deliveries) for t in d]
    assert min(delays) >= 0 and max(delays) <= 0.02 + 3 * FRAME
    assert sum(len(d) == 2 for d in deliveries) == sim.stats.duplicated
    assert abs(sim.stats.duplicated / 5000 - 0.05) < 0.015
    assert abs(sim.stats.reordered / 5000 - 0.1) < 0.02
    assert sim.stats.lost == 0


def test_clean_is_clean():
    sim, deliveries = _run(ImpairmentConfig(), 100)
    assert deliveries == [[i * FRAME] for i in range(100)]


@pytest.mark.parametrize(
    "kwargs", [{"loss": 1.0}, {"loss": -0.1}, {"burst": 0.5}, {"jitter_s": -1}, {"reorder": 2}]
)
def test_refuses_nonsense(kwargs):
    with pytest.raises(ValueError):
        ImpairmentConfig(**kwargs)
