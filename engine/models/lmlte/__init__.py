"""LMLTE model family (LMF, CVPR 2024): network, official checkpoint layout, CMSR, support."""
