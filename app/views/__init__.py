"""Widgets that only lay out and draw: no engine access, no settings, no timers.

Each view exposes Qt signals for what the person does and plain setters for
what it shows; controllers (``app/controllers``) connect them to the engine
client and the settings.
"""
