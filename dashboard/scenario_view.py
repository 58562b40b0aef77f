"""The Scenarios tab: what if a period's rain, a design storm or an earthquake were different (issue 20 item 5).

A thin renderer of :mod:`hazardcore.whatif`. The sidebar's run is loaded once (its networks, the
prepared cube and its stored predictions; cached per run and its files' stamps); each change of
a control predicts that one period in memory and shows the hazard map, an ensemble's
uncertainty (the width of the ensemble's 5–95 % interval; a single run says it has none), the
difference to the reference period's stored map, and the totals over the region. Methods named
after what they return (:meth:`ScenarioView.compute`, :meth:`ScenarioView.totals_table`, the
``*_map`` elements) are what tests and ``benchmarks/scenario_panel.py`` call.

The run is loaded when the tab is first shown (:meth:`ScenarioView.follow`), not on every page load.
Under the server a change computes in a worker thread while a spinner turns beside the controls
(the page stays live; the spinner turns rather than appears, so the page is not laid out again); a
result made for controls that have moved since is dropped.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import holoviews as hv
import panel as pn
import param
import xarray as xr

from dashboard import elements, loaders
from dashboard.state import DashboardState
from hazardcore import styles, whatif
from hazardcore.errors import HazardcoreError
from hazardcore.runfolder import ENSEMBLE, MODEL, PREDICTIONS, workdir_of

NO_STORM = "none (the period's own rain)"
STORMS = {NO_STORM: None, **{f"{years:g}-year storm": years for years in whatif.RETURN_PERIODS_YEARS}}
QUAKE = {"as in the period": None, "an earthquake in the period": True, "no earthquake": False}
HAZARD_CLASSES = styles.scheme_for("hazard", "%")
RAIN_FACTOR_BOUNDS = (0.5, 3.0)
INTRO = ("**What if** the period's rain were heavier, a design storm fell, or an earthquake struck? The run "
         "predicts the chosen period again with its triggers changed (nothing is written): the rain factor "
         "multiplies every day's rain, a return period raises the period's wettest day to the design rainfall "
         "of a GEV fitted to the record's annual maxima (as `hazard scenario --return-period` does). "
         "The difference map is the what-if minus the run's own map of the period.")


@functools.lru_cache(maxsize=2)
def _model(workdir: str, run: str, stamps: tuple[int, ...]) -> whatif.ScenarioModel:
    return whatif.load(workdir, run, device="cpu")


def scenario_model(run: Path) -> whatif.ScenarioModel:
    """The run's :class:`hazardcore.whatif.ScenarioModel`, loaded once per run and state of its files."""
    workdir = workdir_of(run)
    from hazardcore.ensemble import member_runs  # imports PyTorch (the train extra)

    members = member_runs(run) if (run / ENSEMBLE).is_file() else [run]
    stamps = (loaders.cube_stamp(workdir), loaders.stamp(run / PREDICTIONS),
              *(loaders.stamp(member / MODEL) for member in members))
    return _model(str(workdir), str(run), stamps)


@dataclass(frozen=True)
class Result:
    """A what-if's maps and totals beside the reference period's."""

    whatif: whatif.WhatIf
    maps: xr.Dataset
    reference: xr.Dataset
    totals: dict[str, Any]
    reference_totals: dict[str, Any]
    ensemble: bool
    seconds: float


class ScenarioView(pn.viewable.Viewer):
    """Controls, totals and maps of a what-if of the sidebar's run."""

    reference = param.Selector(objects=[], allow_None=True, doc="the period whose triggers are changed")
    rain_factor = param.Number(default=1.0, bounds=RAIN_FACTOR_BOUNDS, step=0.05,
                               doc="times the period's daily rain")
    storm = param.Selector(default=NO_STORM, objects=list(STORMS), doc="design storm of a return period")
    earthquake = param.Selector(default="as in the period", objects=list(QUAKE), doc="earthquake in the period")
    hazard_class = param.Selector(default="high", objects=list(HAZARD_CLASSES.names),
                                  doc="count the cells in this hazard class or a higher one")
    busy = param.Boolean(default=False, doc="a what-if is being computed")
    result = param.Parameter(default=None, doc="the last what-if's Result")
    spread = param.Parameter(default=None, doc="the last what-if's Result when the run is an ensemble (its map)")
    note = param.String(default="", doc="what went wrong, or why there is nothing to show")

    def __init__(self, state: DashboardState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.model: whatif.ScenarioModel | None = None
        self._lock = threading.Lock()
        self._asked = 0  # bumped for every change; a result made for an older one is dropped
        self._shown = False  # the run's model is loaded once the tab is first shown (not on every page load)
        self._layout = self._build()
        state.param.watch(self._on_run, ["run", "revision"])
        self.param.watch(self._on_control, ["reference", "rain_factor", "storm", "earthquake"])

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def show(self) -> None:
        """Load the sidebar's run and compute its what-if (once; later run changes reload it)."""
        if not self._shown:
            self._shown = True
            self._on_run()

    def follow(self, tabs: pn.Tabs) -> None:
        """:meth:`show` when this view's tab of ``tabs`` becomes the active one (or is, e.g. from the address)."""
        index = next(k for k, item in enumerate(tabs.objects) if item is self._layout)

        def on_active(*_: Any) -> None:
            if tabs.active == index:
                self.show()

        tabs.param.watch(on_active, "active")
        on_active()

    # ------------------------------------------------------------------ computing
    def asked(self) -> whatif.WhatIf | None:
        """The controls as a :class:`hazardcore.whatif.WhatIf` (None before a run is loaded)."""
        if self.reference is None:
            return None
        return whatif.WhatIf(str(self.reference), float(self.rain_factor), STORMS[str(self.storm)],
                             QUAKE[str(self.earthquake)])

    def compute(self, change: whatif.WhatIf) -> Result:
        """Predict ``change`` with the loaded run; its totals and the reference period's.

        Raises
        ------
        HazardcoreError
            Before a run is loaded, or when the what-if cannot be built (e.g. too short a record).
        """
        if self.model is None:
            raise HazardcoreError(self.note or "no run loaded")
        started = time.perf_counter()
        with self._lock:
            maps = whatif.predict(self.model, change)
            reference, reference_totals = self._reference(self.model, change.reference)
        return Result(change, maps, reference, whatif.totals(maps), reference_totals, self.model.ensemble,
                      time.perf_counter() - started)

    @staticmethod
    @functools.lru_cache(maxsize=16)
    def _reference(model: whatif.ScenarioModel, label: str) -> tuple[xr.Dataset, dict[str, Any]]:
        """The run's stored maps of a period and their totals (once per loaded model and period)."""
        maps = whatif.reference_maps(model, label)
        return maps, whatif.totals(maps)

    def show_result(self, result: Result) -> None:
        """Show ``result``: every pane's update in one held, frozen document (one walk of Bokeh's model graph)."""
        with pn.io.hold(freeze=True):
            self.param.update(result=result, note="", spread=result if result.ensemble else None)

    def update(self) -> Result | None:
        """Compute the controls' what-if now and show it (scripts, tests and the benchmark)."""
        change = self.asked()
        if change is None:
            return None
        try:
            self.show_result(self.compute(change))
        except HazardcoreError as exc:
            self.note = str(exc)
        return self.result

    def _on_control(self, *_: Any) -> None:
        self._asked += 1
        if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
            self.update()  # no server: compute now
            return
        self.busy = True
        pn.state.execute(functools.partial(self._compute_async, self.asked(), self._asked))

    async def _compute_async(self, change: whatif.WhatIf | None, asked: int) -> None:
        """Compute in a worker thread (the page stays live and shows the spinner); keep the newest result."""
        try:
            if change is None:
                return
            result = await asyncio.get_running_loop().run_in_executor(None, self.compute, change)
            if asked == self._asked:
                self.show_result(result)
        except HazardcoreError as exc:
            self.note = str(exc)
        finally:
            if asked == self._asked:
                self.busy = False

    def _on_run(self, *_: Any) -> None:
        if not self._shown:
            return
        run = self.state.run_path
        self.model, self.result, self.spread = None, None, None
        if run is None:
            self.note = "Nothing to show yet: choose a run in the **Runs** tab (or run the demo there)."
            return
        try:
            self.model = scenario_model(run)
        except HazardcoreError as exc:
            self.note = f"This run cannot make what-ifs yet: {exc}"
            return
        except ModuleNotFoundError as exc:  # no PyTorch: the dashboard shows runs, but cannot predict
            self.note = f"What-ifs run the model and need the train extra (`pip install hazardcore[train]`): {exc}"
            return
        periods = self.model.periods
        current = self.state.slice_label
        chosen = current if current in periods else (self.model.mapped_periods or periods)[-1]
        self.param.reference.objects = periods
        with param.parameterized.discard_events(self):
            self.reference = chosen
        self.note = ""
        self.update()

    # ------------------------------------------------------------------ what the tab shows
    def status_text(self, result: Result | None, busy: bool, note: str) -> str:
        """One line: what is shown, how long it took, and whether the run is an ensemble."""
        if note:
            return note
        if busy:
            return "computing the what-if …"
        if result is None:
            return ""
        kind = (f"an ensemble of {len(self.model.members)} members" if result.ensemble and self.model
                else "a single run: no spread across members to show")
        return f"**{result.whatif.label}** · {kind} · computed in {result.seconds:.2f} s"

    def totals_table(self, result: Result | None, hazard_class: str) -> str:
        """The totals over the region of the what-if, the reference period and their change (Markdown)."""
        if result is None:
            return ""
        rows = [("expected new landslide area (km²)", "expected_landslide_area_km2", "{:.3f}"),
                ("mean hazard (% of a cell)", "mean_hazard_percent", "{:.4f}"),
                ("cells at or above the decision threshold τ", "cells_at_or_above_threshold", "{:d}")]
        lines = ["| over the region | what-if | reference period | change |", "|---|---:|---:|---:|"]
        for label, key, form in rows:
            now, before = result.totals[key], result.reference_totals[key]
            lines.append(f"| {label} | {form.format(now)} | {form.format(before)} | {form.format(now - before)} |")
        now, before = (whatif.cells_at_or_above(totals["cells_per_class"], hazard_class)
                       for totals in (result.totals, result.reference_totals))
        lines.append(f"| cells in hazard class *{hazard_class}* or higher | {now:d} | {before:d} | {now - before:d} |")
        thresholds = (result.maps.attrs["decision_threshold"], result.reference.attrs["decision_threshold"])
        lines.append(f"| decision threshold τ (the run's rule, each period's own) | {thresholds[0]:.3f} | "
                     f"{thresholds[1]:.3f} | |")
        return "\n".join(lines)

    def hazard_map(self, result: Result | None) -> hv.Element:
        """The what-if's hazard (log scale, the Maps tab's colours)."""
        if result is None:
            return elements.empty_map("hazard · what-if")
        return elements.layer_map(result.maps["hazard"], "hazard", f"hazard · {result.whatif.label}")

    def uncertainty_map(self, result: Result | None) -> hv.Element:
        """The width of an ensemble's 5–95 % interval of the hazard (a blank map for a single run)."""
        if result is None or "hazard_p95" not in result.maps:
            return elements.empty_map("hazard interval: ensembles only")
        width = (result.maps["hazard_p95"] - result.maps["hazard_p05"]).rename("hazard_interval")
        return elements.layer_map(width, "hazard_interval", "hazard: 5–95 % interval width")

    def difference_map(self, result: Result | None) -> hv.Element:
        """What-if minus the reference period's hazard (red: more hazard in the what-if)."""
        if result is None:
            return elements.empty_map("hazard difference")
        plane = whatif.difference(result.maps, result.reference)
        return elements.difference_map(plane, "hazard", f"hazard: what-if − {result.whatif.reference}")

    def _build(self) -> pn.viewable.Viewable:
        slider = pn.widgets.FloatSlider(label="Rain factor (× the period's daily rain)", start=RAIN_FACTOR_BOUNDS[0],
                                        end=RAIN_FACTOR_BOUNDS[1], step=0.05, value=self.rain_factor, width=300)
        slider.param.watch(lambda event: setattr(self, "rain_factor", float(event.new)), "value_throttled")
        self.param.watch(lambda event: setattr(slider, "value", float(event.new)), "rain_factor")
        controls = pn.Row(pn.widgets.Select.from_param(self.param.reference, label="Reference period", width=200),
                          slider, pn.widgets.Select.from_param(self.param.storm, label="Design storm", width=220),
                          pn.widgets.Select.from_param(self.param.earthquake, label="Earthquake", width=220))
        progress = pn.Row(pn.indicators.LoadingSpinner(value=self.param.busy, size=22),
                          pn.pane.Markdown(pn.bind(self.status_text, self.param.result, self.param.busy,
                                                   self.param.note), renderer_options={"linkify": False}))
        maps = [hv.DynamicMap(pn.bind(method, source))  # a single run's spread map is drawn once, blank
                for method, source in ((self.hazard_map, self.param.result), (self.uncertainty_map, self.param.spread),
                                       (self.difference_map, self.param.result))]
        return pn.Column(pn.pane.Markdown(INTRO, renderer_options={"linkify": False}), controls, progress,
                         pn.widgets.Select.from_param(self.param.hazard_class, label="Hazard class counted", width=200),
                         pn.pane.Markdown(pn.bind(self.totals_table, self.param.result, self.param.hazard_class),
                                          renderer_options={"linkify": False}, name="totals"),
                         pn.GridBox(*(pn.pane.HoloViews(item, linked_axes=False) for item in maps), ncols=2),
                         sizing_mode="stretch_width")

