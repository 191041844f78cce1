#!/usr/bin/env bash
# Print the paths of the three WorldView-3 training files of the dgsamples package (PAN, MUL,
# SWIR), one per line, or fail with what to install. Used by the training scripts:
#   mapfile -t WV3 < <(tools/wv3_files.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mapfile -t WV3 < <("$PY" - <<'PYEOF'
from pathlib import Path
import dgsamples
base = Path(dgsamples.__file__).parent / "wv3_longmont_1k"
for p in sorted(base.glob("*/*.TIF")):
    print(p)
PYEOF
)
[ "${#WV3[@]}" -eq 3 ] || { echo "expected the 3 WorldView-3 files of dgsamples, found ${#WV3[@]}: pip install dgsamples==1.1.2" >&2; exit 1; }
printf '%s\n' "${WV3[@]}"
