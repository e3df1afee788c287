"""The Lab: offline A/B runs of chains over speech files, and their playback.

``runner`` is ``streamvox evaluate`` plus progress, cancel and the outputs
kept to listen to; ``player`` plays them, crossfading between processed and
original, on the live output device in a child process of its own.
"""
