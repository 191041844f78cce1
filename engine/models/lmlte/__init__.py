"""LMLTE model family (LMF, CVPR 2024): ``network``, ``coords`` (query coordinates and cells),
``checkpoint`` (official layout: detection, loading into an ``SRModel`` with the test protocol,
saving), ``cmsr``, ``family`` (the registry entry).
"""
