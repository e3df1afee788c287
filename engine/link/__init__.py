"""The codec link: codec (or Opus) packets over UDP between two streamvox instances.

One module per job:

- :mod:`engine.link.framing`: the datagram (a link header with stream id,
  timestamp, send time and weights hash, around a packet of
  :mod:`engine.codec_packets` or an Opus packet) and its strict parser.
- :mod:`engine.link.impairment`: the seeded impairment simulator (loss,
  two-state burst loss, jitter, reordering, duplication).
- :mod:`engine.link.jitter_buffer`: the adaptive jitter buffer (target delay
  follows measured jitter; late, duplicate, reordered packets counted).
- :mod:`engine.link.concealment`: what the codec plays for a lost hop.
- :mod:`engine.link.endpoints`: what each chain sends and how its receiver
  decodes and conceals (codec, codec + vocoder, Opus with PLC and FEC).
- :mod:`engine.link.sender` / :mod:`engine.link.receiver`: the UDP ends,
  paced in real time.
- :mod:`engine.link.seed_protocol`: the seed's TCP streaming protocol,
  read through a restricted unpickler.

Nothing here imports ``app`` or Qt.
"""
