"""Builds stage sets on a worker thread, so loading weights never stalls the audio path."""

from __future__ import annotations

import queue
import threading
import time

from engine.live.taps import StageFactory, StageSet, build_stage_set


class StageBuilder:
    """One worker thread; requests in, ``(generation, StageSet | Exception)`` out."""

    def __init__(self) -> None:
        self._requests: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="streamvox-builder", daemon=True)
        self._thread.start()

    def request(self, generation: int, chain: str, chunk: int, factory: StageFactory) -> None:
        """Ask for a stage set; its result arrives through :meth:`results`."""
        self._requests.put((generation, chain, chunk, factory))

    def results(self) -> list[tuple[int, StageSet | Exception]]:
        """Finished builds since the last call (never blocks)."""
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def build(
        self, generation: int, chain: str, chunk: int, factory: StageFactory, timeout: float
    ) -> StageSet:
        """Request and wait (used before a stream opens); raises the build's error."""
        self.request(generation, chain, chunk, factory)
        deadline = time.monotonic() + timeout
        while True:
            try:
                gen, result = self._results.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty as exc:
                raise TimeoutError(f"building the stages took more than {timeout:g} s") from exc
            if gen != generation:
                continue  # superseded request
            if isinstance(result, Exception):
                raise result
            return result

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker after the current build, and wait for it.

        Not waiting let the interpreter exit while the worker thread was still
        freeing the last stage set's tensors, which aborts the process
        ("terminate called without an active exception", exit status 134).
        """
        self._requests.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            generation, chain, chunk, factory = item
            try:
                result: StageSet | Exception = build_stage_set(chain, chunk, factory, generation)
            except Exception as exc:  # noqa: BLE001 - handed to the engine, reported there
                result = exc
            self._results.put((generation, result))
