"""Forecast maps: a trained run's hazard for a period nobody has mapped yet (METHOD.md §7b).

A forecast period (``forecasts:`` in the catalog, :class:`hazardcore.catalog.ForecastSpec`)
is prepared like any period and predicted by the one prediction path,
:func:`hazardcore.pipeline.predict_run` (or :func:`hazardcore.ensemble.predict_ensemble`):
this module only picks the period out of the run's predictions and writes it as a forecast
product, ``RUN/forecasts/<label>.nc``: susceptibility, density given occurrence and hazard
(and an ensemble's 5 / 50 / 95 % intervals), attributes ``product_kind = "forecast"``, the
period's provenance (rain file or scenario with its GEV fit, earthquake and ground motion),
the triggers outside the training range (:mod:`hazardcore.extrapolation`) and no metrics:
no landslides are mapped for the period. A hindcast (the last mapped period withheld) goes
through the same functions, which is what ``tests/test_forecast.py`` checks.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from hazardcore import export, extrapolation
from hazardcore.catalog import catalog_from_raw, load_catalog
from hazardcore.cube import PreparedCube
from hazardcore.errors import HazardcoreError, describe
from hazardcore.intervals import PERCENTILES, percentile_name

FORECASTS = "forecasts"  # RUN/forecasts/<label>.nc
MAP_VARIABLES = ("susceptibility", "density", "hazard")
NO_METRICS = "none: no landslides are mapped for this period"


def forecast_path(run: Path, label: str) -> Path:
    """Where a run's forecast of a period is written."""
    return Path(run) / FORECASTS / f"{label}.nc"


def check_period(cube: PreparedCube, label: str, scenario: bool = False) -> None:
    """Refuse a period that is not a forecast period of the prepared data (or, for ``scenario``, not a scenario).

    Raises
    ------
    HazardcoreError
        Naming the forecast periods the data has and how to declare one.
    """
    forecasts = cube.forecasts or {}
    names = sorted(forecasts)
    kind = "scenario" if scenario else "forecast period"
    if label not in forecasts:
        mapped = label in cube.slice_labels
        raise HazardcoreError(describe(
            f"{label} is {'a mapped period' if mapped else 'not a period of the prepared data'}, not a {kind}",
            source=cube.path, expected=f"one of {names}" if names else "a period under `forecasts:` in the catalog",
            found=label, fix=("its maps are in the run's predictions.nc" if mapped else
                              "declare it under `forecasts:` in the catalog and run `hazard prepare` again")))
    if scenario and not is_scenario(forecasts[label]):
        raise HazardcoreError(describe(f"{label} is a forecast period with observed or forecast triggers, "
                                       "not a scenario", source=cube.path, found=forecasts[label],
                                       fix=f"use --period {label}"))


def is_scenario(provenance: dict[str, Any]) -> bool:
    """Whether a forecast period's rain or ground motion is a scenario built by hazardcore."""
    quake = provenance.get("earthquake", {}).get("ground_motion", {})
    return provenance.get("rain", {}).get("source") == "scenario" or quake.get("source") == "scenario"


def map_variables(predictions: xr.Dataset) -> list[str]:
    """The maps a forecast carries: susceptibility, density, hazard and, of an ensemble, their intervals."""
    names = [name for name in MAP_VARIABLES if name in predictions]
    names += [percentile_name(name, level) for name in MAP_VARIABLES for level in PERCENTILES
              if percentile_name(name, level) in predictions]
    return names


def forecast_maps(predictions: xr.Dataset, label: str, provenance: dict[str, Any]) -> xr.Dataset:
    """One period's forecast maps out of a run's predictions, marked as a forecast, without metrics.

    Raises
    ------
    HazardcoreError
        If the predictions hold no such period (they were made before the period was prepared).
    """
    labels = [str(v) for v in predictions["slice"].values]
    if label not in labels:
        raise HazardcoreError(describe(f"the predictions hold no period {label}", expected=labels, found=label,
                                       fix="predict again after `hazard prepare` of the catalog that declares it"))
    period = predictions[map_variables(predictions)].sel(slice=label)
    scalars = [name for name in ("slice_start", "slice_end", "monsoons", "labelled") if name in period.coords]
    period = period.drop_vars(scalars)
    outside = extrapolation.of(predictions).get(label, {})
    calibration = json.loads(predictions.attrs.get("calibration", "{}"))
    threshold = (calibration.get("thresholds_per_slice") or {}).get(label)
    attrs = {"product_kind": "forecast", "period": label,
             "period_start": str(np.datetime_as_string(predictions["slice_start"].sel(slice=label).values, "D"))
             if "slice_start" in predictions.coords else "",
             "period_end": str(np.datetime_as_string(predictions["slice_end"].sel(slice=label).values, "D"))
             if "slice_end" in predictions.coords else "",
             "provenance": json.dumps(provenance), "extrapolation": json.dumps(outside),
             "outside_training_range": ", ".join(sorted(outside)) or "none",
             "metrics": NO_METRICS, "run_id": str(predictions.attrs.get("run_id", "")),
             "split": str(predictions.attrs.get("split", "")),
             "decision_threshold": float(threshold) if threshold is not None else float("nan")}
    if "members" in predictions.attrs:
        attrs["members"] = str(predictions.attrs["members"])
    out = period.assign_attrs(attrs)
    crs = predictions.rio.crs
    return out.rio.write_crs(crs) if crs is not None else out


def write_forecast(maps: xr.Dataset, run: Path) -> Path:
    """Write a forecast into the run folder (``RUN/forecasts/<label>.nc``), atomically."""
    return export.write_netcdf(maps, forecast_path(run, str(maps.attrs["period"])))


def forecast_run(workdir: str | Path, run: Path, label: str, scenario: bool = False,
                 ensemble: bool = False, **predict_options: Any) -> tuple[xr.Dataset, Path]:
    """Predict a run (or an ensemble's folder) on the prepared data and write its forecast of one period.

    The prediction is :func:`hazardcore.pipeline.predict_run` (or
    :func:`hazardcore.ensemble.predict_ensemble` with ``ensemble``), so ``predictions.nc`` is
    rewritten with every period, the forecast ones included.

    Returns
    -------
    (xarray.Dataset, Path)
        The forecast maps and the file written.
    """
    cube = PreparedCube.open(workdir)
    check_period(cube, label, scenario)
    if ensemble:
        from hazardcore.ensemble import predict_ensemble

        predictions = predict_ensemble(workdir, run, **predict_options)
    else:
        from hazardcore.pipeline import predict_run

        predictions = predict_run(workdir, run, **predict_options)
    maps = forecast_maps(predictions, label, (cube.forecasts or {})[label])
    return maps, write_forecast(maps, run)


def summary(maps: xr.Dataset, cell_area_km2: float) -> dict[str, float]:
    """Regional totals of a forecast: expected landslide area (km²), mean hazard, cells above the threshold."""
    hazard = maps["hazard"].values.astype("float64")
    valid = np.isfinite(hazard)
    threshold = float(maps.attrs.get("decision_threshold", float("nan")))
    above = int(np.sum(maps["susceptibility"].values[valid] >= threshold)) if np.isfinite(threshold) else 0
    return {"cells": int(valid.sum()), "expected_landslide_area_km2": float(np.nansum(hazard) / 100 * cell_area_km2),
            "mean_hazard_percent": float(np.nanmean(hazard)) if valid.any() else float("nan"),
            "cells_at_or_above_threshold": above}



def forecast_entry(label: str, start: str, end: str, rain_from: str | None = None, factor: float | None = None,
                   return_period_years: float | None = None, quake: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``forecasts:`` entry of a catalog: the period, its rain scenario and its earthquake (all optional)."""
    entry: dict[str, Any] = {"label": label, "start": start, "end": end}
    if rain_from is not None:
        entry["rain"] = {"period": rain_from} | ({"factor": factor} if factor is not None else {}) | (
            {"return_period_years": return_period_years} if return_period_years is not None else {})
    if quake:
        entry["earthquake"] = dict(quake)
    return entry


def scenario_catalog(catalog_path: str | Path, entry: dict[str, Any],
                     out: str | Path | None = None) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Write a copy of a catalog with one more forecast period (``hazard scenario --add``).

    The entry is validated with the catalog and its triggers are built
    (:func:`hazardcore.prepare.describe_forecasts`: a design storm's GEV fit included) before
    anything is written. ``out`` defaults to ``catalog_<label>.yaml`` beside the catalog;
    elsewhere, the layer paths are made absolute.

    Returns
    -------
    (Path, dict)
        The catalog written and the description of its forecast periods.
    """
    from hazardcore.prepare import describe_forecasts

    catalog = load_catalog(catalog_path)
    out = Path(out) if out is not None else catalog.path.parent / f"catalog_{entry['label']}.yaml"
    raw = copy.deepcopy(catalog.raw)
    raw["forecasts"] = [*(raw.get("forecasts") or []), entry]
    described = describe_forecasts(catalog_from_raw(raw, catalog.path))  # refuses a bad entry before writing
    if out.resolve().parent != catalog.path.parent:
        _absolute_paths(raw, catalog.path.parent)
    return export.write_yaml(raw, out), described


def _absolute_paths(raw: dict[str, Any], folder: Path) -> None:
    """Make every ``path:`` of a catalog's layers and forecasts absolute (relative to ``folder``)."""
    def fix(entry: Any) -> None:
        if isinstance(entry, dict) and "path" in entry:
            entry["path"] = str((folder / str(entry["path"])).resolve())

    for item in raw.get("layers", {}).values():
        for entry in item if isinstance(item, list) else [item]:
            fix(entry)
    for forecast in raw.get("forecasts") or []:
        fix(forecast.get("rainfall"))
        fix((forecast.get("earthquake") or {}).get("pga"))


DEMO_LABEL = "next-year-100y"
DEMO_RETURN_PERIOD_YEARS = 100.0


def demo_entry(catalog_path: str | Path) -> dict[str, Any]:
    """The demo's forecast period: the last mapped period's dates a year later, with a 100-year design storm.

    The rain is the last mapped period's daily pattern, its wettest day raised to the
    100-year design daily rainfall of the record (:func:`hazardcore.scenarios.design_rain`).
    """
    last = load_catalog(catalog_path).labelled_slices[-1]
    start, end = (day.replace(year=day.year + 1) if (day.month, day.day) != (2, 29)
                  else dt.date(day.year + 1, 3, 1) for day in (last.start, last.end))
    return forecast_entry(DEMO_LABEL, start.isoformat(), end.isoformat(), rain_from=last.label,
                          return_period_years=DEMO_RETURN_PERIOD_YEARS)


def demo_forecast(catalog_path: str | Path, workdir: str | Path, run: Path,
                  progress: bool = False) -> tuple[xr.Dataset, Path, dict[str, Any]]:
    """The demo's last step: add :func:`demo_entry` to the catalog, prepare it into ``workdir``, forecast with ``run``.

    Returns
    -------
    (xarray.Dataset, Path, dict)
        The forecast maps, their file and the period's description (the GEV fit included).
    """
    from hazardcore.prepare import prepare

    catalog, described = scenario_catalog(catalog_path, demo_entry(catalog_path))
    prepare(catalog, workdir, progress=progress)
    maps, path = forecast_run(workdir, run, DEMO_LABEL, scenario=True, device="auto", progress=progress)
    return maps, path, described[DEMO_LABEL]
