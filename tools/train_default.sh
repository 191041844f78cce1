#!/usr/bin/env bash
# Reproduce the bundled default model resources/models/lmlte-default.pth:
# train the band-wise LMLTE of resources/configs/lmlte-default.yaml on the WorldView-3 files of the
# dgsamples package (PAN 0.3 m, MUL 1.2 m, SWIR 7.5 m; the WorldView-2 files stay held out), then
# copy the best checkpoint (official LMF layout, resume state stripped) into resources/models/.
#
#   tools/train_default.sh [OUT_DIR] [extra `python -m engine train` flags, e.g. --epochs 7]
#
# Runs on the CPU with 2 threads (43 min on a busy shared 2-core machine, a few minutes when idle);
# --device cuda works too.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:-build/train/default}
shift || true

mapfile -t WV3 < <("$PY" - <<'PYEOF'
from pathlib import Path
import dgsamples
base = Path(dgsamples.__file__).parent / "wv3_longmont_1k"
for p in sorted(base.glob("*/*.TIF")):
    print(p)
PYEOF
)
[ "${#WV3[@]}" -eq 3 ] || { echo "expected the 3 WorldView-3 files of dgsamples, found ${#WV3[@]}: pip install dgsamples==1.1.2" >&2; exit 1; }

"$PY" -m engine train --config lmlte-default --data "${WV3[@]}" --out "$OUT" "$@"

"$PY" - "$OUT" <<'PYEOF'
import sys
from pathlib import Path
from engine.train.lmlte import export_weights
src = Path(sys.argv[1]) / "epoch-best.pth"
export_weights(src, Path("resources/models/lmlte-default.pth"))
print(f"resources/models/lmlte-default.pth <- {src}")
PYEOF
