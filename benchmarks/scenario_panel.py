"""Rain-factor response time of the dashboard's Scenarios tab; prints one table.

Opens the dashboard's state on ROOT (the sidebar's newest run, or ``--run``), builds the Scenarios
tab (``dashboard/scenario_view.py``) into a Bokeh document as the server does, shows it (which loads
the run's model once and computes the reference period's what-if), then moves the rain factor
``--changes`` times. Each change is timed from setting the factor until the tab holds the new result
with its maps, difference map and totals table re-rendered into the document: the server's share of
a response (the websocket round trip and the browser's drawing, a few tens of ms on one machine, are
not included). The same changes are also timed through ``hazardcore.whatif.predict`` alone.

Usage (after ``make demo``)::

    .venv/bin/python benchmarks/scenario_panel.py --root out/demo [--run RUN_ID] [--changes 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path


def factors(changes: int) -> list[float]:
    """``changes`` rain factors across the slider's range, none equal to its neighbour (from 1.0)."""
    values = [round(0.6 + 2.2 * ((k * 0.37) % 1.0), 2) for k in range(1, changes + 1)]
    return [value + 0.05 if value == 1.0 else value for value in values]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the dashboard's root (e.g. out/demo)")
    parser.add_argument("--run", default=None, help="run id (default: the dashboard's choice, the newest)")
    parser.add_argument("--changes", type=int, default=10, help="rain-factor changes to time")
    options = parser.parse_args(argv)
    import torch

    from dashboard.scenario_view import ScenarioView
    from dashboard.state import DashboardState
    from hazardcore import whatif

    state = DashboardState(root=options.root)
    if options.run:
        state.run = next(path for path in state.param.run.objects.values() if Path(path).name == options.run)
    view = ScenarioView(state)
    view.__panel__().get_root()  # the tab's Bokeh models, as a server session holds them
    started = time.perf_counter()
    view.show()
    load_s = time.perf_counter() - started
    model, result = view.model, view.result
    if model is None or result is None:
        raise SystemExit(f"no what-if for {state.run}: {view.note}")
    tab_ms, library_ms = [], []
    for factor in factors(options.changes):
        started = time.perf_counter()
        view.rain_factor = factor
        tab_ms.append(1000 * (time.perf_counter() - started))
        assert view.result is not None and view.result.whatif.rain_factor == factor
        started = time.perf_counter()
        whatif.predict(model, whatif.WhatIf(result.whatif.reference, factor))
        library_ms.append(1000 * (time.perf_counter() - started))
    cells = int(result.totals["cells"])
    kind = f"ensemble of {len(model.members)}" if model.ensemble else "single run"
    print(f"run {model.run.name} ({kind}), reference period {result.whatif.reference}, {cells} cells, "
          f"{os.cpu_count()} CPUs, what-ifs on {model.threads} torch thread(s) (the process: "
          f"{torch.get_num_threads()}); loading the run and the first what-if: {load_s:.2f} s")
    header = ("step", "changes", "median ms", "max ms")
    rows = [("Scenarios tab: predict + totals + maps", tab_ms), ("hazardcore.whatif.predict alone", library_ms)]
    print(" | ".join(header))
    print(" | ".join("-" * len(h) for h in header))
    for name, values in rows:
        print(f"{name} | {len(values)} | {statistics.median(values):.0f} | {max(values):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
