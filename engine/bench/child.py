"""``python -m engine.bench.child ARGS``: ``python -m engine ARGS`` that writes its own peak
resident size (``VmHWM``, KiB) to the file named by ``$ARBSR_PEAK_FILE`` when it exits.

Why not the ``ru_maxrss`` that ``wait4`` gives the parent: Linux carries the peak of the
process that started the child into the child's figure (``exec`` keeps the larger of the two),
so once the bench's own process had grown (a 2048² model call in the ``flops`` entry: 4.4 GiB)
every child measured after it read 4.4 GiB. ``VmHWM`` belongs to the child's own memory map.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path


def _write_peak(target: str) -> None:
    status = Path("/proc/self/status")
    if not status.is_file():  # not Linux: the parent falls back to wait4's figure
        return
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            Path(target).write_text(line.split()[1])


if __name__ == "__main__":
    target = os.environ.get("ARBSR_PEAK_FILE")
    if target:
        atexit.register(_write_peak, target)
    from engine.cli import main

    sys.exit(main())
