#!/usr/bin/env bash
# Refresh the README's cross-validated results (docs/results/cv_*.json and the `cv` table):
# `hazard cv` (spatial, 4 folds, demo configuration) on the default region (seed 42, the
# development region every setting was chosen on) and on region seeds never used to choose a
# setting, one of them 64 x 64 km. REGIONS lists seed:size_km:seeds. About 30 min per 32 km
# region at 3 seeds and 1 h for the 64 km region at 1 seed, on 2 idle CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/cv}
REGIONS=${REGIONS:-"42:32:3 7:32:3 11:64:1"}
for entry in $REGIONS; do
    IFS=: read -r seed size seeds <<< "$entry"
    name="region$seed"
    [ "$size" = 32 ] || name="region_${size}km_seed${seed}"
    [ -f "$OUT/$name/catalog.yaml" ] || .venv/bin/hazard synth "$OUT/$name" --seed "$seed" --size-km "$size" --quiet
    [ -d "$OUT/work_$name/prepared.zarr" ] || .venv/bin/hazard prepare "$OUT/$name/catalog.yaml" \
        --out "$OUT/work_$name" --quiet
    .venv/bin/hazard cv "$OUT/work_$name" --split spatial --folds 4 --seeds "$seeds" --config demo --jobs 2 \
        --quiet || true
    .venv/bin/python docs/results.py --add "cv_spatial_$name" "$OUT/work_$name/cv.json"
done
