#!/usr/bin/env bash
# Refresh the README's cross-validated results (docs/results/cv_*.json and the `cv` table):
# `hazard cv` (spatial, 4 folds x 3 seeds, demo configuration) on the default region (seed 42,
# the development region every setting was chosen on) and on region seeds never used to
# choose a setting. About 40 min per region on 2 idle CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/cv}
REGIONS=${REGIONS:-"42 7"}
for seed in $REGIONS; do
    [ -f "$OUT/region$seed/catalog.yaml" ] || .venv/bin/hazard synth "$OUT/region$seed" --seed "$seed" --quiet
    [ -d "$OUT/work$seed/prepared.zarr" ] || .venv/bin/hazard prepare "$OUT/region$seed/catalog.yaml" \
        --out "$OUT/work$seed" --quiet
    .venv/bin/hazard cv "$OUT/work$seed" --split spatial --folds 4 --seeds 3 --config demo --quiet || true
    .venv/bin/python docs/results.py --add "cv_spatial_region$seed" "$OUT/work$seed/cv.json"
done
