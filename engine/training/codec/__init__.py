"""The codec trainer's helpers: EMA codebooks, decoder widening, and two diagnostics."""
