"""The raster pipeline: a raster in, a super-resolved GeoTIFF (or VRT) out, block by block.

Stages, one module each:

* :mod:`~engine.pipeline.scale`: the user's scale options as per-axis factors;
* :mod:`~engine.pipeline.plan`: the output cut into blocks (aligned to the output GeoTIFF's
  blocks), each with its input window + halo and a seed from its global position;
* :mod:`~engine.pipeline.block`: the reader and the one function every executor runs on a block;
* :mod:`~engine.pipeline.render`: model calls, band rule, out-of-memory back-off;
* :mod:`~engine.pipeline.sink`: output pixels (type, nodata), part files and blending;
* :mod:`~engine.pipeline.parts`: the parts folder, its manifest and ``--resume``;
* :mod:`~engine.pipeline.executors`: this process, local worker processes, Ray actors;
* :mod:`~engine.pipeline.run`: :func:`upscale_raster`, which ties them together.

Values: each band is normalised with :mod:`engine.normalization` statistics of the whole raster;
the model runs with ``clamp=False``; results are denormalised, rounded and clipped to the input
data type. Nodata / masks / NaN: invalid pixels are filled with the nearest valid value before
inference; an output pixel is invalid when the input pixel its centre falls in is invalid, and
a valid pixel never takes the nodata value. The output goes to a temporary file beside the
target, renamed at the end; any failure or interruption removes it.
"""

from engine.pipeline.block import ModelRef
from engine.pipeline.plan import DEFAULT_OUTPUT_TILE, block_seed
from engine.pipeline.render import TileRenderer, fill_holes, from_model_batch, to_model_batch
from engine.pipeline.run import upscale_raster
from engine.pipeline.scale import Scale, parse_number, resolve_scale

__all__ = ["DEFAULT_OUTPUT_TILE", "ModelRef", "Scale", "TileRenderer", "block_seed",
           "fill_holes", "from_model_batch", "parse_number", "resolve_scale", "to_model_batch",
           "upscale_raster"]
