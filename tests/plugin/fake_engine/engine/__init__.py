"""A stand-in engine for fast plugin unit tests: same CLI and JSON events, no torch.

Upscale resizes with GDAL nearest neighbour. Environment knobs: FAKE_ENGINE_SLEEP (seconds spent
"working", in progress steps, so tests can cancel), FAKE_ENGINE_FAIL (a message to fail with),
FAKE_ENGINE_NOISE (print a non-JSON line first), FAKE_ENGINE_ARGV (a file to which each call
appends its arguments as one JSON list).
"""
