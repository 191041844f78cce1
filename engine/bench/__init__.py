"""Benchmark entries for ``python -m engine bench`` (one module each, ``run(out_dir, quick)``)."""
