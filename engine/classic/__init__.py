"""What the neural chain is compared with: the classic codecs and the classical vocoder.

The reference stages (``reference_stages``: ``opus@KBPS``, ``g711``,
``amrwb``, ``speex``, ``codec2``, ``pghi``), the codecs through their native
libraries (``native_lib``; AMR-WB, Speex, Codec 2 in ``classic_codecs``,
G.711, Opus's stage over :mod:`engine.dsp.opus_codec`), the framed-codec
stage they share, the 8 kHz round trip (``narrowband``) and the classical
vocoder (``pghi_vocoder``, ``pghi_stage``: a log-mel inverted, RTPGHI phase).
"""
