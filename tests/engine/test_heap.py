"""The engine processes keep freed memory for reuse (engine.heap): a freed large block stays in
the process instead of going back to the system, so the next tile's tensors do not page-fault."""

from __future__ import annotations

import json
import subprocess
import sys

from rasters import ROOT

CHILD = """
import json, sys
import numpy as np
from engine.heap import keep_freed_memory

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

applied = keep_freed_memory() if sys.argv[1] == "keep" else False
a = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
before = rss_mib()
del a
print(json.dumps({"applied": applied, "released_mib": before - rss_mib()}))
"""


def test_freed_large_blocks_stay_in_the_process_only_when_asked() -> None:
    out = {}
    for mode in ("keep", "default"):
        p = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, check=True)
        out[mode] = json.loads(p.stdout)
    assert out["keep"]["applied"] is True
    assert out["keep"]["released_mib"] < 8           # kept for the next tensor
    assert out["default"]["released_mib"] > 56       # a library user's Python: unchanged
