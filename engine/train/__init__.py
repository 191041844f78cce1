"""Training and fine-tuning on the user's own rasters (``python -m engine train``).

* :mod:`engine.train.data`: self-supervised (HR crop, LR, scale) pairs from any rasters, shared by
  every family (nodata-aware crops, antialiased bicubic degradation, per-band normalisation).
* :mod:`engine.train.config`: defaults, YAML files in ``resources/configs/``, flag overrides,
  learning-rate schedule.
* :mod:`engine.train.common`: what every trainer shares (validation PSNR, seeding, JSON-able
  configs, the EMA of weights).
* ``engine.train.<family>``: one trainer per family with ``DEFAULTS`` and
  ``train(config, progress) -> Path`` (the best checkpoint); ``lmlte`` writes the official LMF
  layout.
"""
