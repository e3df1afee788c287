"""The Vocos vocoder, one module per job.

Its sizes (``config``), the network (``generator`` over ``backbone``,
``head``, ``conv``, ``phase``), its weights files (``checkpoint``; the seed's
Lightning format in ``seed``), the streaming stage (``stage``) and its
inference-only fast path (``fast``).
"""
