"""LMLTE model family (LMF, CVPR 2024): ``network``, ``coords`` (query coordinates and cells),
``checkpoint`` (official layout), ``cmsr``, ``support`` (detection, loading, test protocol),
``family`` (the registry entry).
"""
