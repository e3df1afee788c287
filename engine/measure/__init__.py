"""Measuring what the chain costs: step timings, fast-path accuracy, live latency and load.

``step_bench`` and ``bench_accuracy`` time and check the models offline
(``streamvox bench``); ``live_bench`` runs the live engine through a
private JACK server (``jack_server``) and measures glass to glass with a
probe client (``jack_probe`` in ``probe_process``).
"""
