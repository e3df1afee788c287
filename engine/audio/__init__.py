"""Device I/O: the devices, the PortAudio stream in its own process, the shared-memory rings.

The audio host process (``host_main``) only copies between the device and
two rings in shared memory (``shm``, ``ring``); :class:`host.AudioHost` is
the engine's handle on it. Nothing here knows a model or a tap.
"""
