#!/usr/bin/env bash
# Refresh docs/results/*.json and the README's results table: the demo (spatial split) on the
# default region, then the random, temporal and forward splits and the leave-one-slice-out folds on its
# working folder.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/results}
rm -rf "$OUT"
.venv/bin/hazard demo --out "$OUT" --seed 42
add() { .venv/bin/python docs/results.py --add "$1" "$(ls -t "$OUT"/work/runs/*/metrics.json | head -1)"; }
add spatial
spatial_run=$(basename "$(dirname "$(ls -t "$OUT"/work/runs/*/metrics.json | head -1)")")
.venv/bin/hazard explain "$OUT/work" --run "$spatial_run" --repeats 5 --quiet
.venv/bin/python docs/results.py --add importance "$OUT/work/runs/$spatial_run/importance.json"
for split in random temporal forward; do
    held_out=-1; [ "$split" = forward ] && held_out=-2  # forward: the two 2018 slices
    .venv/bin/hazard train "$OUT/work" --config demo --split "$split" --test-slice "$held_out" --quiet
    .venv/bin/hazard evaluate "$OUT/work" --split "$split" --quiet
    add "$split"
done
# the original study's all-channels network on the same splits (README: "trigger response")
for split in spatial temporal forward; do
    held_out=-1; [ "$split" = forward ] && held_out=-2
    .venv/bin/hazard train "$OUT/work" --config demo --split "$split" --test-slice "$held_out" \
        --set trigger_response=network --quiet
    .venv/bin/hazard evaluate "$OUT/work" --run "$(basename "$(ls -td "$OUT"/work/runs/*/ | head -1)")" --quiet
    add "${split}_network"
done
.venv/bin/hazard train "$OUT/work" --config demo --split temporal --test-slice all --quiet
.venv/bin/python docs/results.py --add leave_one_slice_out "$OUT/work/leave_one_slice_out.json"
