"""LMLTE out of memory on the CPU reaches the pipeline's tile halving.

Real allocation failures, no mocks: an allocation far larger than any machine's memory, and a
child process whose address space is capped (``RLIMIT_AS``) so that a whole
448 x 448 tile cannot be rendered at once while half tiles can.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal

import engine
from engine.errors import ResourceError
from engine.models.lmlte.checkpoint import MIN_CHUNK
from engine.models.memory import is_out_of_memory as _is_oom  # what the pipeline uses
from rasters import dgsamples_file

ROOT = Path(__file__).resolve().parents[3]


def test_chunk_back_off_ends_in_an_error_the_pipeline_halves_tiles_on():
    model = engine.load_model("lmlte-default")
    tried: list[int] = []

    def render(chunk: int) -> torch.Tensor:
        tried.append(chunk)
        return torch.empty(chunk << 40, dtype=torch.uint8)  # petabytes: the CPU allocator fails

    with pytest.raises(ResourceError) as info:
        model._with_backoff(render, 8 * MIN_CHUNK)
    assert tried == [8 * MIN_CHUNK, 4 * MIN_CHUNK, 2 * MIN_CHUNK, MIN_CHUNK]
    assert isinstance(info.value, torch.OutOfMemoryError) and _is_oom(info.value)
    assert "--tile" in str(info.value) and "\n" not in str(info.value)


def test_other_runtime_errors_are_not_taken_for_out_of_memory():
    model = engine.load_model("lmlte-default")

    def broken(chunk: int) -> torch.Tensor:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes") as info:
        model._with_backoff(broken, 8 * MIN_CHUNK)
    assert not isinstance(info.value, torch.OutOfMemoryError)


N = 448  # LR side: the whole tile cannot allocate under the cap below, a half tile can
# Address space above the loaded model: the whole tile failed at every cap up to 300 MB (and
# rendered at 340 MB); the halved tiles rendered at every cap down to 40 MB. oneDNN reports
# some of these failures as a primitive it could not create, which the renderer must take for
# out of memory too.
CAP_MB = 160
# A capped address space also counts heap that the allocator keeps after a failure: with glibc's
# default (a threshold for mmap that rises as large blocks are freed), the failed whole tile left
# 62 MB of the cap mapped here, and on another machine every tile down to the smallest failed.
# A fixed threshold returns every large block to the system when it is freed, so the cap
# measures what each attempt needs, as a real memory limit does (3 MB left after the failure).
_CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}

_CHILD = r"""
import json, resource, sys
import numpy as np, torch
torch.set_num_threads(1)
import engine
from engine.models.memory import is_out_of_memory as _is_oom
from engine.pipeline import TileRenderer

lr = np.load(sys.argv[1])
n, cap = lr.shape[-1], int(sys.argv[2]) << 20
model = engine.load_model("lmlte-default")
# Kernels and caches that torch loads on first use are loaded before the cap, which then limits
# only what a tile needs.
TileRenderer(model, 64, 64, 128, 128).render(lr[:, :64, :64], 0, 0, (0, 128), (0, 128))
vm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (vm + cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
centres = torch.arange(2 * n) / 2 + 0.25
try:
    model.upscale_grid(torch.from_numpy(lr)[None], centres, centres, (0.5, 0.5))
    direct = "no error"
except BaseException as exc:
    direct = {"type": type(exc).__name__, "oom": _is_oom(exc), "message": str(exc)}
renderer = TileRenderer(model, n, n, 2 * n, 2 * n)
try:
    got = renderer.render(lr, 0, 0, (0, 2 * n), (0, 2 * n))
except BaseException as exc:
    # What the address space held when the renderer gave up, for the test's message.
    status = [l.strip() for l in open("/proc/self/status") if l.startswith(("VmSize", "VmPeak"))]
    sys.exit(f"{type(exc).__name__}: {exc}; cap {cap >> 20} MB above {vm >> 20} MB; {status}; "
             f"whole tile: {direct}")
np.save(sys.argv[3], got)
print(json.dumps({"direct": direct, "max_region": renderer.max_region}))
"""


@pytest.mark.slow
def test_cpu_out_of_memory_reaches_the_tile_halving(tmp_path):
    from engine.pipeline import TileRenderer

    src = gdal.Open(str(dgsamples_file("wv2", "PAN"))).ReadAsArray(600, 600, N, N)
    src = src.astype(np.float32)
    lr = ((src - src.min()) / (src.max() - src.min()))[None]
    np.save(tmp_path / "lr.npy", lr)
    res = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "lr.npy"), str(CAP_MB),
                          str(tmp_path / "got.npy")], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={**os.environ, **_CHILD_ENV})
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["direct"] != "no error", "the cap did not make the whole tile fail"
    assert out["direct"]["oom"] and out["direct"]["type"] == "ModelOutOfMemory"
    assert "--tile" in out["direct"]["message"]
    assert out["max_region"] is not None  # the renderer halved the region ...
    want = TileRenderer(engine.load_model("lmlte-default"), N, N, 2 * N, 2 * N).render(
        lr, 0, 0, (0, 2 * N), (0, 2 * N))
    # ... same pixels, within the tiling tolerance of tests/engine/test_pipeline.py (1e-5 of the
    # value range + 1e-3 DN): splitting a region changes float32 summation order, nothing else
    tol = 1e-5 + 1e-3 / float(src.max() - src.min())
    assert float(np.abs(np.load(tmp_path / "got.npy") - want).max()) <= tol
