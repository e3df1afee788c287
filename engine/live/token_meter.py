"""Which running codec's token statistics the snapshot reports.

Several codec stages may run at once (the ``codec`` tap and the codec
inside ``codec+vocoder`` are separate instances, and a new generation runs
beside the old one while crossfading). The one on the path of the tap now
heard is reported; otherwise any running one, so that the numbers stay up
while the dry signal is heard.
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.live.nodes import WetNode
from engine.live.processor import Processor
from engine.token_stats import TokenCounter, TokenStats


def token_stats(proc: Processor | None) -> TokenStats | None:
    """Statistics of the codec heard (or any running one); None when no codec runs."""
    counter = token_counter(proc)
    return counter.summary() if counter is not None else None


def token_counter(proc: Processor | None) -> TokenCounter | None:
    """The counter of the codec stage on the heard tap's path, else of any running codec."""
    if proc is None:
        return None
    heard = proc.heard_tap()
    nodes = sorted(proc.nodes.values(), key=lambda n: n.tap != heard)  # heard first
    for node in nodes:
        for counter in _counters(node):
            return counter
    return None


def _counters(node: WetNode | None) -> Iterator[TokenCounter]:
    """Token counters of the stages on ``node``'s path, itself first."""
    while node is not None:
        for part in node.stage.parts():
            counter = getattr(part, "token_counter", None)
            if isinstance(counter, TokenCounter):
                yield counter
        node = node.parent
