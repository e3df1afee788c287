"""The Tokens tab shows the engine's token statistics as the snapshot carries them."""

import math
import pickle

import numpy as np
import pytest

from app.controllers.meters import MetersController
from app.engine_process import _restored
from app.views.main_view import MainView
from app.views.token_view import EMPTY, TokenView
from engine.token_stats import TokenCounter
from tests.gui.test_meters import running_snapshot


def token_stats():
    """Codebook 1 cycles through 16 entries, codebook 2 through 4: 4 and 2 bits/token."""
    c = TokenCounter(2, 128, 20, 0.015, 7)
    seq = np.arange(20 * 64)
    for h in range(64):
        frame = seq[20 * h : 20 * (h + 1)]
        c.add(np.stack([frame % 16, 100 + frame % 4]))
    return c.summary()


@pytest.fixture
def panel(qtbot):
    view, tokens = MainView(), TokenView()
    for w in (view, tokens):
        qtbot.addWidget(w)
        w.show()
    snaps = []
    controller = MetersController(view, lambda: snaps[-1] if snaps else None, tokens=tokens)
    return tokens, controller, snaps


def test_the_panel_shows_the_snapshots_numbers(panel):
    tokens, controller, snaps = panel
    t = token_stats()
    assert [b.entropy_bits for b in t.codebooks] == [pytest.approx(4.0), pytest.approx(2.0)]
    snaps.append(running_snapshot(tokens=t))
    controller.poll()
    assert tokens.stats is t
    assert "18.67 kbit/s" in tokens.bitrate.text()  # 40 tokens x 7 bits / 15 ms
    assert "40 tokens × 7 bits" in tokens.bitrate.text()
    assert tokens.tokens.text() == f"2667 tokens/s · {64 * 40:,} sent"
    # (4 + 2 bits) x 1333.3 tokens/s per codebook = 8.00 kbit/s; 1 - 3/7 = 57 % saved
    assert tokens.entropy.text().startswith("8.00 kbit/s")
    assert "save 57 %" in tokens.entropy.text()
    assert tokens.window.text() == "last 0.96 s (64 hops)".replace("0.96", f"{64 * 0.015:.1f}")
    first, second = tokens.books
    assert (
        "16 of 128 entries used" in first.label.text() and "4.00 bits/token" in first.label.text()
    )
    assert (
        "4 of 128 entries used" in second.label.text() and "2.00 bits/token" in second.label.text()
    )
    for book, usage in zip(tokens.books, t.codebooks, strict=True):
        x, y = book.curve.getData()
        np.testing.assert_array_equal(y, usage.counts)  # one bar per entry
        assert len(x) == 129
    assert tokens.usage.isVisible() and not tokens.empty.isVisible()


def test_without_a_codec_the_panel_says_so(panel):
    tokens, controller, snaps = panel
    snaps.append(running_snapshot(tokens=token_stats()))
    controller.poll()
    snaps.append(running_snapshot(tokens=None))
    controller.poll()
    assert tokens.stats is None and tokens.bitrate.text() == "–"
    assert tokens.empty.isVisible() and tokens.empty.text() == EMPTY
    assert not tokens.usage.isVisible()


def test_a_uniform_stream_shows_no_saving(qtbot):
    c = TokenCounter(2, 128, 20, 0.015, 7)
    for h in range(64):  # every entry of both codebooks equally often: 7 bits/token
        c.add(np.stack([np.arange(20 * h, 20 * (h + 1)) % 128] * 2))
    view = TokenView()
    qtbot.addWidget(view)
    view.set_stats(c.summary())
    assert c.summary().codebooks[0].entropy_bits == pytest.approx(math.log2(128))
    assert "128 of 128 entries used" in view.books[0].label.text()
    assert "save 0 %" in view.entropy.text()


def test_token_statistics_survive_the_trip_from_the_engine_process():
    snap = _restored(pickle.loads(pickle.dumps(running_snapshot(tokens=token_stats()))))
    assert snap.tokens.window_hops == 64 and snap.tokens.tokens_total == 64 * 40
    for book, sent in zip(snap.tokens.codebooks, token_stats().codebooks, strict=True):
        np.testing.assert_array_equal(book.counts, sent.counts)
        assert not book.counts.flags.writeable  # read-only, as in the engine's snapshot
