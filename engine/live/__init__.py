"""The live chain: stages wired into taps, the A/B mixer, and the engine loop that runs them.

Typed commands in (``control``), an immutable snapshot out (``meters``);
the loop (``engine``) reads device blocks from :mod:`engine.audio`, runs
them through the :class:`processor.Processor` and writes them back.
"""
