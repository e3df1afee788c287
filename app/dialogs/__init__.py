"""Dialogs: models, loopback latency measurement, actionable error messages."""
