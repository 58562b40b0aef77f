#!/usr/bin/env bash
# The demo configuration as ensembles of K = 3 and 5 members of both kinds (members differing in
# their seeds; members also trained on a block bootstrap of their data) on a working folder of the
# default region, then docs/results/ensemble.json and the README's table. Member 0 of the seed
# ensembles is the demo run itself, reused when trained. WORK defaults to the working folder
# docs/results.sh leaves. The intervals' lambda comes from hazardcore/interval_inflation.json,
# calibrated on another region (benchmarks/interval_coverage.py --write; see benchmarks/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-out/results/work}
for kind in "" "--set bootstrap_blocks=true"; do
    # shellcheck disable=SC2086  # $kind is zero or two words
    .venv/bin/hazard train "$WORK" --config demo --members 5 $kind --quiet
    bootstrap=$([ -n "$kind" ] && echo True || echo False)
    single=$(.venv/bin/python -c "import sys; sys.path.insert(0, 'docs'); from ensemble_results import single_id; \
print(single_id($bootstrap))")
    .venv/bin/hazard evaluate "$WORK" --run "$single" --quiet
    for k in 3 5; do
        # shellcheck disable=SC2086
        .venv/bin/hazard train "$WORK" --config demo --members "$k" $kind --quiet  # lists it; members are trained
        .venv/bin/hazard predict "$WORK" --ensemble "$single-k$k" --quiet  # combines again: λ may have changed
        .venv/bin/hazard evaluate "$WORK" --ensemble "$single-k$k" --quiet
    done
done
.venv/bin/python docs/ensemble_results.py "$WORK" --members 1 3 5
.venv/bin/python docs/results.py
