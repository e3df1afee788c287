"""The neural codec, one module per job.

The network (``model``), its weights files (``checkpoint``; the seed's format
in ``seed``), the seed package's API (``api``), the streaming stage
(``stage``) and its inference-only fast path (``fast``).
"""
