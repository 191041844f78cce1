#!/usr/bin/env bash
# Reproduce the bundled default model resources/models/lmlte-default.pth:
# train the band-wise LMLTE of resources/configs/lmlte-default.yaml on the WorldView-3 files of the
# dgsamples package (PAN 0.3 m, MUL 1.2 m, SWIR 7.5 m; the WorldView-2 files stay held out) in
# four seeded stages, then copy the last stage's best checkpoint (official LMF layout, resume
# state stripped) into resources/models/:
#   1. 10 epochs x 100 iterations from scratch, peak lr 4e-4 (the config);
#   2. fine-tune from 1: 30 epochs, peak lr 2e-4, cosine;
#   3. fine-tune from 2: 50 epochs, peak lr 2e-4, cosine, seed 1 (fresh crops);
#   4. fine-tune from 3 with per-axis scales (resources/configs/lmlte-default-peraxis.yaml):
#      half of the pairs draw sy and sx independently in [1, 4], 24 epochs, peak lr 2e-4,
#      cosine, seed 2. Stages 1-3 only ever show square cells, and the network then falls
#      below GDAL cubic at --scale-x != --scale-y.
# Stages 2 and 3 restart the cosine schedule: warm restarts gave far more per CPU-minute than
# one long decay (see resources/models/README.md).
#
#   tools/train_default.sh [OUT_DIR] [extra `python -m engine train` flags for every stage,
#                                     e.g. --device cuda]
#
# About 25 minutes for stages 1-3 and 25 for stage 4 on an idle 2-core CPU (2 threads);
# --device cuda works too.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:-build/train/default}
shift || true

mapfile -t WV3 < <(tools/wv3_files.sh)
[ "${#WV3[@]}" -eq 3 ] || exit 1

train() { "$PY" -m engine train --config lmlte-default --data "${WV3[@]}" "$@"; }
train --out "$OUT/stage1" "$@"
train --out "$OUT/stage2" --init "$OUT/stage1/epoch-best.pth" --epochs 30 --lr 2e-4 "$@"
train --out "$OUT/stage3" --init "$OUT/stage2/epoch-best.pth" --epochs 50 --lr 2e-4 --seed 1 "$@"
"$PY" -m engine train --config lmlte-default-peraxis --data "${WV3[@]}" --out "$OUT/stage4" \
    --init "$OUT/stage3/epoch-best.pth" "$@"

"$PY" - "$OUT" <<'PYEOF'
import sys
from pathlib import Path
from engine.train.lmlte import export_weights
src = Path(sys.argv[1]) / "stage4" / "epoch-best.pth"
export_weights(src, Path("resources/models/lmlte-default.pth"))
print(f"resources/models/lmlte-default.pth <- {src}")
PYEOF
