#!/usr/bin/env bash
# The demo configuration as seed ensembles of K = 3 and 5 members on the demo's working folder
# (member 0 is the demo run itself, reused when trained), then docs/results/ensemble.json and the
# README's table. WORK defaults to the working folder docs/results.sh leaves.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-out/results/work}
single=$(.venv/bin/python -c "from hazardcore.config import config_hash, demo_configs; print(config_hash(*demo_configs()))")
.venv/bin/hazard train "$WORK" --config demo --members 5 --quiet
for k in 3 5; do
    .venv/bin/hazard train "$WORK" --config demo --members "$k" --quiet  # lists the ensemble; members are trained
    .venv/bin/hazard evaluate "$WORK" --ensemble "$single-k$k" --quiet
done
.venv/bin/python docs/ensemble_results.py "$WORK" --members 1 3 5
.venv/bin/python docs/results.py
