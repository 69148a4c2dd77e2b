#!/usr/bin/env bash
# Turn the running tiny-32 training's latest checkpoint into shippable weights without stopping it.
# The learning rate is constant after warm-up and the EMA decay does not depend on the total, so
# the weights at checkpoint step K are exactly what `train-generator ... --steps K` produces; this
# script runs that command against a copy of the checkpoint (it finds step K done and only writes
# the weights, config and model card).
set -euo pipefail
OUT=${OUT:-baselines/weights/tiny-32}
TMP=$(mktemp -d)
cp -r "$OUT/.checkpoint" "$TMP/.checkpoint"
cp "$OUT/loss.csv" "$TMP/loss.csv"
STEP=$(python3 -c "import json,sys; print(json.load(open('$TMP/.checkpoint/meta.json'))['step'])")
.venv/bin/cxrbench train-generator --preset tiny-32 --source phantom --site site-a --n-patients 1000 \
  --steps "$STEP" --batch-size 32 --lr 5e-4 --ema-decay 0.998 --seed 0 --threads 1 --checkpoint-every 100 \
  --out "$TMP"
sed -i "s#--out $TMP#--out $OUT#" "$TMP/MODEL_CARD.md"
cp "$TMP/model.safetensors" "$TMP/config.json" "$TMP/MODEL_CARD.md" "$OUT/"
python3 - "$OUT/loss.csv" "$STEP" <<'PY'
import sys
path, step = sys.argv[1], int(sys.argv[2])
lines = open(path).read().splitlines()
print(f"exported step {step}; loss log has {len(lines) - 1} rows")
PY
rm -rf "$TMP"
