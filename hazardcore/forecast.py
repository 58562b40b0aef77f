"""Forecast maps: a trained run's hazard for a period nobody has mapped yet (METHOD.md §7b).

A forecast period (``forecasts:`` in the catalog, :class:`hazardcore.catalog.ForecastSpec`)
is prepared like any period and predicted by the one prediction path,
:func:`hazardcore.pipeline.predict_run` (or :func:`hazardcore.ensemble.predict_ensemble`):
this module only picks the period out of the run's predictions and writes it as a forecast
product, ``RUN/forecasts/<label>.nc``: susceptibility, density given occurrence and hazard
(and an ensemble's 5 / 50 / 95 % intervals), attributes ``product_kind = "forecast"``, the
period's provenance (rain file or scenario with its GEV fit, earthquake and ground motion),
the triggers outside the training range (:mod:`hazardcore.extrapolation`) and no metrics:
no landslides are mapped for the period; beside it, the same maps as products like a run's
(``RUN/forecasts/<label>/``: GeoTIFFs with their QGIS styles, CF NetCDF; :func:`write_forecast_products`),
which the run's report lists. A hindcast (the last mapped period withheld) goes
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
from hazardcore import figure_data as fd
from hazardcore.catalog import Catalog, catalog_from_raw, load_catalog
from hazardcore.cube import PreparedCube
from hazardcore.errors import HazardcoreError, InvalidValueError, describe
from hazardcore.intervals import PERCENTILES, percentile_name
from hazardcore.runfolder import FORECASTS, forecast_products

MAP_VARIABLES = ("susceptibility", "density", "hazard")
NO_METRICS = "none: no landslides are mapped for this period"
#: The forecast's attributes every product carries (GeoTIFF tags, CF NetCDF global attributes, manifest).
PRODUCT_TAGS = ("product_kind", "period", "period_start", "period_end", "provenance", "extrapolation",
                "outside_training_range", "metrics", "run_id", "split", "members")


def forecast_path(run: Path, label: str) -> Path:
    """Where a run's forecast of a period is written (``RUN/forecasts/<label>.nc``)."""
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


def product_tags(maps: xr.Dataset) -> dict[str, str]:
    """The forecast's metadata as the products' tags (:data:`PRODUCT_TAGS` present in ``maps.attrs``)."""
    return {key: str(maps.attrs[key]) for key in PRODUCT_TAGS if key in maps.attrs}


def product_stack(maps: xr.Dataset) -> xr.Dataset:
    """A forecast's (y, x) maps as the one-period (slice, y, x) Dataset the product writers take (no IO).

    The period's dates become ``slice_start`` / ``slice_end``, its decision threshold (where
    recorded) the ``decision_threshold`` of the slice with the calibration's rule.

    Raises
    ------
    InvalidValueError
        If the forecast carries no period dates.
    """
    label = str(maps.attrs.get("period", ""))
    dates = [str(maps.attrs.get(key, "")) for key in ("period_start", "period_end")]
    if not label or not all(dates):
        raise InvalidValueError(describe("a forecast without its period's label and dates cannot be a product",
                                         source=label or "forecast", expected="period, period_start, period_end",
                                         found={"period": label, "dates": dates},
                                         fix="forecast again: `hazard predict WORKDIR --run RUN_ID --period LABEL`"))
    names = map_variables(maps)
    stack = maps[names].drop_vars([name for name in ("slice", "spatial_ref") if name in maps.coords])
    stack = stack.expand_dims(slice=[label]).assign_coords(
        slice_start=("slice", np.array([dates[0]], dtype="datetime64[ns]")),
        slice_end=("slice", np.array([dates[1]], dtype="datetime64[ns]")))
    threshold = float(maps.attrs.get("decision_threshold", float("nan")))
    if np.isfinite(threshold):
        rule = str(json.loads(str(maps.attrs.get("calibration", "{}"))).get("threshold_rule", ""))
        stack["decision_threshold"] = ("slice", np.array([threshold], dtype="float32"), {
            "units": "1", "rule": rule, "long_name": "susceptibility at or above which a cell is predicted to have "
                                                     "new landslides in the period"})
    for name in names:
        stack[name].attrs.pop("grid_mapping", None)
    crs = maps.rio.crs
    return stack.rio.write_crs(crs) if crs is not None else stack


def write_forecast_products(maps: xr.Dataset, run: Path, source: Catalog | None = None,
                            input_files: tuple[Path, ...] = ()) -> dict[str, Path]:
    """Write a forecast's maps as products, like a run's, into ``RUN/forecasts/<label>/``.

    :func:`hazardcore.export.write_products` of :func:`product_stack`: a Cloud-Optimised
    GeoTIFF per map (susceptibility, density, hazard, an ensemble's percentiles; one band, its
    ``start_date`` / ``end_date`` tags) with its QGIS style, ``predicted_occurrence.tif`` where
    a decision threshold is recorded, the CF NetCDF ``hazard.nc``, the QGIS project
    ``hazard.qgs`` and ``manifest.json``, each written atomically. Every GeoTIFF's tags, the
    NetCDF's global attributes and the manifest say ``product_kind = forecast`` and carry the
    period's provenance and its triggers outside the training range (:func:`product_tags`).

    Returns
    -------
    dict of str to pathlib.Path
        File name → path, as :func:`hazardcore.export.write_products` returns it.
    """
    stack = product_stack(maps)
    tags = product_tags(maps)
    manifest = {**tags, "provenance": json.loads(tags["provenance"]) if "provenance" in tags else {},
                "extrapolation": json.loads(tags["extrapolation"]) if "extrapolation" in tags else {},
                "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()}
    return export.write_products(stack, forecast_products(run, str(maps.attrs["period"])), manifest,
                                 list(input_files), source, tags=tags, what="hazard forecast")


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
    path = write_forecast(maps, run)
    from hazardcore.pipeline import input_files, run_catalog

    source = run_catalog(cube)
    write_forecast_products(maps, run, source, tuple(input_files(cube, source)))
    return maps, path


def summary(maps: xr.Dataset, cell_area_km2: float) -> dict[str, float]:
    """Regional totals of a forecast: expected landslide area (km²), mean hazard, cells above the threshold
    (:func:`hazardcore.figure_data.forecast_totals`, which the report shows)."""
    return fd.forecast_totals(maps, cell_area_km2)


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

    The run is then evaluated again (:func:`hazardcore.pipeline.evaluate_run`, on the
    predictions the forecast made: nothing is predicted twice), so that its report shows the
    forecast in its "Forecasts" section and its products cover the forecast period too.

    Returns
    -------
    (xarray.Dataset, Path, dict)
        The forecast maps, their file and the period's description (the GEV fit included).
    """
    from hazardcore.prepare import prepare

    catalog, described = scenario_catalog(catalog_path, demo_entry(catalog_path))
    prepare(catalog, workdir, progress=progress)
    maps, path = forecast_run(workdir, run, DEMO_LABEL, scenario=True, device="auto", progress=progress)
    from hazardcore.pipeline import evaluate_run

    evaluate_run(workdir, run, progress=progress)
    return maps, path, described[DEMO_LABEL]
