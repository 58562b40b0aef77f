"""What if: a trained run's hazard for a period with changed triggers, in memory (issue 20 item 5).

A *what-if* takes a reference period of the prepared data and changes its triggers: its daily
rain times a factor, or its daily pattern raised to a design storm of a return period
(:func:`hazardcore.scenarios.design_rain`, the same GEV growth curve as ``hazard scenario``),
an earthquake in the period or none (``earthquake_in_slice``), and the monsoons since the
earthquake. Nothing is prepared or written: the model is loaded once (:func:`load`), and each
what-if is one period's predictors built from the prepared cube, predicted by the one
prediction path (:func:`hazardcore.infer.predict_cells` on a one-period cube, the run's stored
calibration and decision rule, an ensemble's members combined by
:func:`hazardcore.ensemble.combine_members`).

Why scaling the rain channels is exact: ``rain_max``, ``rain_span95`` (a difference of two
linearly interpolated percentiles) and ``rain_total`` of daily rain times ``f > 0`` are ``f``
times those of the daily rain, and the bilinear resampling onto the 30 m lattice is linear,
so the prepared rain channels of a scaled scenario (``hazard scenario --rain-from P --factor
f``) are the period's channels times ``f``, to float32 rounding. The structured trigger
response (:mod:`hazardcore.trigger_response`) sees the cell means of the scaled channels, so
the model sees what ``hazard predict --scenario`` would give it; ``tests/test_whatif.py``
checks the maps against that command. A design storm scales each rain pixel by its own factor
before resampling, so its channels are computed from the record like ``prepare`` does
(:func:`design_rain_channels`, once per period and return period).

Speed: the structured trigger response's spatial network sees the static channels only
(terrain, PGA), which a what-if does not change; its outputs are memoised per batch of windows
(:func:`memoise_static_network`: same input, same output), so a rain change reruns the trigger
response and the density network only. PyTorch is imported inside the functions that load and run the networks (as in
:mod:`hazardcore.pipeline`), so the dashboard imports this module without the ``train`` extra.

The period keeps the reference's cells: valid where its predictors are finite (a forecast
period's rule: no inventory is needed), its PGA channels (the catalog's earthquakes' shaking,
or a forecast period's own), its length.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from hazardcore import export, forecast, scenarios, styles
from hazardcore import figure_data as fd
from hazardcore.catalog import load_catalog, open_rainfall
from hazardcore.config import ModelConfig
from hazardcore.cube import PreparedCube
from hazardcore.errors import HazardcoreError, InvalidValueError, describe
from hazardcore.grid import to_grid
from hazardcore.hazard import Calibration, hazard, slice_thresholds
from hazardcore.predictors import PERIOD_CHANNELS, RAIN_CHANNELS, ChannelScaling, cells_all_finite
from hazardcore.prepare import rain_bands
from hazardcore.runfolder import ENSEMBLE, MODEL, PREDICTIONS
from hazardcore.slices import RainScenario
from hazardcore.triggers import rain_slice_statistics, rain_to_mm_day

if TYPE_CHECKING:
    import torch

    from hazardcore.models import HazardModel

MONSOONS, EARTHQUAKE, SLICE_DAYS = (PERIOD_CHANNELS.index(name) for name in
                                    ("monsoons", "earthquake_in_slice", "slice_days"))
#: Window batches whose spatial terms a loaded model keeps (a few regions' rows of windows per period).
MEMO_ITEMS = 512
#: Return periods (years) the dashboard offers for a design storm.
RETURN_PERIODS_YEARS = (10.0, 25.0, 50.0, 100.0)


@dataclass(frozen=True)
class WhatIf:
    """A change of a reference period's triggers.

    Attributes
    ----------
    reference
        Label of the prepared period whose predictors are changed.
    rain_factor
        Times the period's daily rain (or the design storm's); > 0.
    return_period_years
        Raise the period's daily pattern to this return period's design storm first; None: its own rain.
    earthquake
        An earthquake in the period (``earthquake_in_slice`` 1) or none (0); None: as the reference.
    monsoons
        Monsoons since the earthquake; None: as the reference.
    """

    reference: str
    rain_factor: float = 1.0
    return_period_years: float | None = None
    earthquake: bool | None = None
    monsoons: float | None = None

    @property
    def label(self) -> str:
        """A short name, e.g. ``2018-post × 1.5, 100-year storm, earthquake``."""
        parts = [f"{self.reference} × {self.rain_factor:g}"]
        if self.return_period_years:
            parts.append(f"{self.return_period_years:g}-year storm")
        if self.earthquake is not None:
            parts.append("earthquake" if self.earthquake else "no earthquake")
        if self.monsoons is not None:
            parts.append(f"{self.monsoons:g} monsoons")
        return ", ".join(parts)


@dataclass(frozen=True)
class Member:
    """One network of a run (an ensemble has several), loaded for prediction."""

    model: HazardModel
    scaling: ChannelScaling
    cell_px: int
    calibration: Calibration  # the member's own (used to combine an ensemble's members)


@dataclass(eq=False)  # identity: hashable, so callers may cache per loaded model
class ScenarioModel:
    """A trained run (or ensemble) loaded once with its prepared data and stored predictions."""

    run: Path
    cube: PreparedCube
    members: list[Member]
    calibration: Calibration  # of the run's (or the ensemble's mean) logit, as predicted
    threshold_rule: str
    pooled_threshold: float
    stride_cells: int
    device: torch.device
    predictions: xr.Dataset  # the run's stored predictions: the reference periods' maps
    ensemble: bool = False
    kind: str = "seeds"  # what an ensemble's members differ in (picks its intervals' λ)
    threads: int = 1  # PyTorch threads while a what-if predicts (:func:`torch_threads`)
    _valid: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _design: dict[tuple[str, float], tuple[np.ndarray, dict[str, Any]]] = field(default_factory=dict, repr=False)
    _seen: PreparedCube | None = field(default=None, repr=False)

    @property
    def seen(self) -> PreparedCube:
        """The prepared cube at the resolution the networks see (:func:`seen_cube`, pooled once)."""
        if self._seen is None:
            self._seen = seen_cube(self.cube, self.cell_px)
        return self._seen

    @property
    def cell_px(self) -> int:
        """Pixels per cell the members see (one value: an ensemble's members share their configuration).

        Raises
        ------
        HazardcoreError
            If the members see cells at different resolutions.
        """
        sizes = {member.cell_px for member in self.members}
        if len(sizes) != 1:
            raise HazardcoreError(describe("the members see cells at different resolutions", source=self.run,
                                           found=sorted(sizes), fix="what-ifs need members of one configuration"))
        return sizes.pop()

    @property
    def periods(self) -> list[str]:
        """The periods a what-if may start from: prepared and predicted."""
        predicted = {str(label) for label in self.predictions["slice"].values}
        return [label for label in self.cube.slice_labels if label in predicted]

    @property
    def mapped_periods(self) -> list[str]:
        """The periods with an inventory (a design storm needs one of the record's periods)."""
        return [label for label, mapped in zip(self.cube.slice_labels, self.cube.labelled_mask, strict=True)
                if mapped and label in self.periods]

    def index(self, label: str) -> int:
        """The prepared cube's index of a period.

        Raises
        ------
        HazardcoreError
            For a period the run has not predicted.
        """
        if label not in self.periods:
            raise HazardcoreError(describe(f"no period {label} to start a what-if from", source=self.run,
                                           expected=f"one of {self.periods}", found=label,
                                           fix="predict the run on the prepared data: `hazard predict`"))
        return self.cube.slice_labels.index(label)


def load(workdir: str | Path, run: str | Path, device: str = "cpu", threads: int = 1) -> ScenarioModel:
    """Load a predicted run (or an ensemble folder) and its prepared data for what-ifs.

    ``threads``: PyTorch's intra-op threads while a what-if predicts. One by default: a what-if
    runs small batches (one row of windows), where a second thread mostly waits; on 2 cores
    shared with other work, 2 threads took 3 to 6 times the wall time of one (spinning
    threads), on the 16 km test region 2.8-4.5 s against 0.6-0.75 s (load 7).

    Raises
    ------
    MissingFileError
        If the run has no predictions (predict it first).
    CheckpointError
        If a model does not match the prepared data's channels.
    """
    from hazardcore.ensemble import folder_kind, member_runs
    from hazardcore.train import resolve_device

    run = Path(run)
    cube = PreparedCube.open(workdir)
    torch_device = resolve_device(device)
    predictions = export.open_predictions(run / PREDICTIONS)
    record = json.loads(str(predictions.attrs["calibration"]))
    ensemble = (run / ENSEMBLE).is_file()
    members = [load_member(path, cube, torch_device) for path in (member_runs(run) if ensemble else [run])]
    return ScenarioModel(run=run, cube=cube, members=members, calibration=Calibration.from_dict(record),
                         threshold_rule=str(record.get("threshold_rule", "expected_f1")),
                         pooled_threshold=float(record.get("threshold", float("nan"))),
                         stride_cells=int(predictions.attrs.get("stride_cells", 2)), device=torch_device,
                         predictions=predictions, ensemble=ensemble, threads=threads,
                         kind=folder_kind(run) if ensemble else "seeds")


def load_member(run: Path, cube: PreparedCube, device: torch.device) -> Member:
    """A run's network, channel scaling and calibration (from its stored predictions)."""
    from hazardcore.infer import check_checkpoint_matches, load_model

    model, checkpoint = load_model(run / MODEL, device)
    check_checkpoint_matches(checkpoint, cube)
    memoise_static_network(model)
    record = json.loads(str(export.open_predictions(run / PREDICTIONS).attrs["calibration"]))
    return Member(model, ChannelScaling.from_dict(checkpoint.scaling),
                  int(ModelConfig.from_dict(checkpoint.model_config).cell_px), Calibration.from_dict(record))


def memoise_static_network(model: HazardModel, max_items: int = MEMO_ITEMS) -> bool:
    """Memoise the structured susceptibility's spatial network (it sees the static channels only).

    A what-if changes the period's rain, earthquake indicator or monsoon count, never the
    terrain and PGA a window's spatial terms are computed from; the same input tensor gives the
    same output, so a repeated one (keyed by its bytes, least recently used dropped after
    ``max_items``) is answered from memory and a rain change reruns only the trigger response and
    the density network. Returns whether the model has such a network (the ``network`` trigger
    response feeds every channel to its U-Net: nothing to memoise).
    """
    from hazardcore.models import StructuredSusceptibilityNet

    susceptibility = model.susceptibility
    if not isinstance(susceptibility, StructuredSusceptibilityNet):
        return False
    network = susceptibility.net
    compute = network.forward
    memory: OrderedDict[bytes, Any] = OrderedDict()

    def forward(image: torch.Tensor) -> torch.Tensor:
        values = image.detach().cpu().contiguous().numpy()
        key = hashlib.blake2b(values.tobytes(), digest_size=16).digest() + str(values.shape).encode()
        if key not in memory:
            memory[key] = compute(image)
            if len(memory) > max_items:
                memory.popitem(last=False)
        memory.move_to_end(key)
        return memory[key]

    network.forward = forward
    return True


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """PyTorch's intra-op thread count set to ``count`` inside the block, restored after it (process-wide)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seen_cube(cube: PreparedCube, cell_px: int) -> PreparedCube:
    """The cube's predictors as a network of ``cell_px`` pixels per cell sees them: NaN set to 0 and
    average-pooled (:func:`hazardcore.datasets.pool_image`), on a grid of ``cell_px`` pixels per cell.

    :func:`hazardcore.infer.strip_canvas` zeroes and pools every strip of every period it
    predicts; pooling the cube once instead is the same arithmetic (an image's pooled pixel is
    the mean of the same pixels) and took 40 % of a what-if's time on the default region.
    """
    factor = cube.grid.pixels_per_cell // cell_px
    return dataclasses.replace(cube, grid=dataclasses.replace(cube.grid, pixels_per_cell=cell_px),
                               static=seen_pixels(cube.static, factor), dynamic=seen_pixels(cube.dynamic, factor),
                               pga_event=None if cube.pga_event is None else seen_pixels(cube.pga_event, factor))


def seen_pixels(values: Any, factor: int) -> np.ndarray:
    """(..., y, x) predictor pixels with NaN set to 0, average-pooled by ``factor`` over (y, x)."""
    from hazardcore.datasets import pool_image

    block = np.array(values, dtype="float32")
    block[~np.isfinite(block)] = 0.0
    rows, cols = block.shape[-2:]
    out = pool_image(block.reshape(-1, rows, cols), factor)
    return out.reshape(*block.shape[:-2], rows // factor, cols // factor)


def predictor_validity(cube: PreparedCube, index: int) -> np.ndarray:
    """(row, col) cells of a period whose predictors are all finite: a forecast period's valid cells."""
    ppc = cube.grid.pixels_per_cell
    valid = cells_all_finite(np.asarray(cube.static), ppc) & cells_all_finite(np.asarray(cube.dynamic[index]), ppc)
    if cube.pga_of_slice is not None and cube.pga_event is not None and cube.pga_of_slice[index] >= 0:
        valid &= cells_all_finite(np.asarray(cube.pga_event[int(cube.pga_of_slice[index])]), ppc)
    return valid


def design_rain_channels(cube: PreparedCube, label: str,
                         return_period_years: float) -> tuple[np.ndarray, dict[str, Any]]:
    """The rain channels (3, y, x) of a mapped period's pattern raised to a design storm, and its provenance.

    As ``prepare`` computes a return-period scenario's: the catalog's daily record,
    :func:`hazardcore.scenarios.scenario_rain` (the GEV growth curve), the period's rain
    statistics on the record's grid, resampled bilinearly onto the 30 m lattice.

    Raises
    ------
    HazardcoreError
        If the period is not a mapped period of the catalog (or its record is too short: CatalogError).
    """
    catalog = load_catalog(cube.catalog_path)
    spec = next((item for item in catalog.labelled_slices if item.label == label), None)
    if spec is None:
        raise HazardcoreError(describe(f"a design storm needs a mapped period of the record, not {label}",
                                       source=catalog.path, expected=[s.label for s in catalog.labelled_slices],
                                       found=label, fix="choose a mapped period as the reference"))
    entry = catalog.layer("rainfall")
    source = str(entry.path)
    rain = rain_to_mm_day(open_rainfall(entry), entry.units, source)
    series, provenance = scenarios.scenario_rain(
        rain, RainScenario("return_period", label, return_period_years=return_period_years),
        catalog.labelled_slices, spec, source)
    stats = rain_slice_statistics(series.rio.write_crs(rain.rio.crs), [spec], f"{source} (design storm of {label})")
    n_y, n_x = cube.grid.shape("30m")
    block = to_grid(rain_bands(stats), cube.grid, "30m", "bilinear", source).values
    return block.reshape(len(RAIN_CHANNELS), n_y, n_x).astype("float32"), provenance


def rain_channels(model: ScenarioModel, whatif: WhatIf) -> tuple[np.ndarray, dict[str, Any]]:
    """The what-if's rain channels (3, y, x) in ``RAIN_CHANNELS`` order at the networks' resolution
    (:attr:`ScenarioModel.seen`), and where they come from.

    Raises
    ------
    InvalidValueError
        For a rain factor that is not positive.
    """
    if not whatif.rain_factor > 0:
        raise InvalidValueError(describe("a rain factor must be positive", found=whatif.rain_factor))
    index = model.index(whatif.reference)
    if whatif.return_period_years:
        key = (whatif.reference, float(whatif.return_period_years))
        if key not in model._design:
            channels, described = design_rain_channels(model.cube, *key)
            factor = model.cube.grid.pixels_per_cell // model.cell_px
            model._design[key] = (seen_pixels(channels, factor), described)
        base, provenance = model._design[key]
    else:
        base = np.asarray(model.seen.dynamic[index], dtype="float32")
        provenance = {"kind": "scaled", "period": whatif.reference}
    return base * np.float32(whatif.rain_factor), provenance | {"factor": whatif.rain_factor}


def scenario_cube(model: ScenarioModel, whatif: WhatIf, rain: np.ndarray) -> PreparedCube:
    """A one-period cube (at the networks' resolution): the reference period with ``rain`` as its rain
    channels and the what-if's period values.

    No inventory (``labelled`` False, density NaN), the reference's PGA channels and length.
    """
    cube, index = model.seen, model.index(whatif.reference)
    if whatif.reference not in model._valid:
        model._valid[whatif.reference] = predictor_validity(model.cube, index)
    period = np.array(cube.period[index], dtype="float32")
    if whatif.monsoons is not None:
        period[MONSOONS] = whatif.monsoons
    if whatif.earthquake is not None:
        period[EARTHQUAKE] = float(whatif.earthquake)
    own_quake = cube.pga_of_slice is not None and cube.pga_event is not None and cube.pga_of_slice[index] >= 0
    shape = (1, cube.grid.n_rows, cube.grid.n_cols)
    return dataclasses.replace(
        cube, slice_labels=[whatif.label], dynamic=rain[None], period=period[None],
        monsoons=period[None, MONSOONS], density=np.full(shape, np.nan, dtype="float32"),
        presence=np.zeros(shape, dtype=bool), valid=model._valid[whatif.reference][None], truth={},
        slice_dates=cube.slice_dates[index:index + 1], labelled=np.zeros(1, dtype=bool),
        pga_event=cube.pga_event[int(cube.pga_of_slice[index])][None] if own_quake else None,  # type: ignore[index]
        pga_of_slice=np.zeros(1, dtype="int32") if own_quake else None, forecasts=None)


def member_maps(member: Member, cube: PreparedCube, model: ScenarioModel) -> xr.Dataset:
    """One member's (slice, y, x) prediction of a one-period cube, calibrated with the member's calibration."""
    from hazardcore.infer import predict_cells, prediction_dataset

    cells = predict_cells(member.model, cube, member.scaling, member.cell_px, model.device, model.stride_cells)
    predictions = prediction_dataset(cube, cells)
    probability = member.calibration.apply(predictions["logit"].values).astype("float32")
    dims = predictions["logit"].dims
    return predictions.assign(susceptibility=(dims, probability),
                              hazard=(dims, hazard(probability, predictions["density"].values).astype("float32")))


def predict(model: ScenarioModel, whatif: WhatIf) -> xr.Dataset:
    """The what-if's maps: susceptibility, density given occurrence, hazard (an ensemble's intervals too).

    Returns
    -------
    xarray.Dataset
        (y, x) maps as a forecast's (:func:`hazardcore.forecast.map_variables`; an ensemble's
        standard deviations across members too) and the mean
        ``logit`` (uncalibrated; monotone in rain for the structured trigger response), attributes
        ``decision_threshold`` (the run's rule on the period's own probabilities), ``period``,
        ``reference``, ``provenance`` (JSON), ``run_id`` and ``members`` of an ensemble.
    """
    from hazardcore.ensemble import combine_members, member_runs

    rain, provenance = rain_channels(model, whatif)
    cube = scenario_cube(model, whatif, rain)
    with torch_threads(model.threads):
        maps = [member_maps(member, cube, model) for member in model.members]
    combined = combine_members(maps, model.kind) if model.ensemble else maps[0]
    probability = model.calibration.apply(combined["logit"].values).astype("float32")
    dims = combined["logit"].dims
    combined = combined.assign(susceptibility=(dims, probability, {"units": "1"}),
                               hazard=(dims, hazard(probability, combined["density"].values).astype("float32"),
                                       {"units": "%"}))
    threshold = slice_thresholds(probability, np.isfinite(probability), model.threshold_rule,
                                 model.pooled_threshold)[0]
    spreads = [f"{name}_std" for name in forecast.MAP_VARIABLES if f"{name}_std" in combined]
    period = combined[["logit", *forecast.map_variables(combined), *spreads]].isel(slice=0, drop=True)
    period = period.drop_vars([name for name in ("slice_start", "slice_end", "monsoons", "labelled")
                               if name in period.coords])
    attrs = {"period": whatif.label, "reference": whatif.reference, "decision_threshold": float(threshold),
             "provenance": json.dumps({"rain": provenance, "earthquake_in_slice": float(cube.period[0, EARTHQUAKE]),
                                       "monsoons": float(cube.period[0, MONSOONS])}),
             "run_id": model.run.name, "product_kind": "what-if"}
    if model.ensemble:
        attrs["members"] = ", ".join(path.name for path in member_runs(model.run))
    return period.assign_attrs(attrs)


def reference_maps(model: ScenarioModel, label: str) -> xr.Dataset:
    """The run's stored maps of a period, as a forecast's (:func:`hazardcore.forecast.forecast_maps`)."""
    model.index(label)
    return forecast.forecast_maps(model.predictions, label, {"label": label})


def totals(maps: xr.Dataset) -> dict[str, Any]:
    """Regional totals of (y, x) maps: :func:`hazardcore.forecast.summary` and the cells in each hazard class.

    Returns
    -------
    dict
        ``expected_landslide_area_km2``, ``mean_hazard_percent``, ``cells``,
        ``cells_at_or_above_threshold`` (the decision threshold), and ``cells_per_class``
        (class name → cells, the products' hazard classes, :func:`hazardcore.styles.scheme_for`).
    """
    out: dict[str, Any] = dict(forecast.summary(maps, fd.cell_area_km2(maps)))
    scheme = styles.scheme_for("hazard", "%")
    classes = styles.classify(np.asarray(maps["hazard"].values), scheme)
    out["cells_per_class"] = {name: int((classes == k).sum()) for k, name in enumerate(scheme.names)}
    return out


def cells_at_or_above(counts: dict[str, int], name: str) -> int:
    """Cells in class ``name`` or a higher one, from ``cells_per_class`` (classes in rising order)."""
    names = list(counts)
    return int(sum(counts[key] for key in names[names.index(name):]))


def difference(maps: xr.Dataset, reference: xr.Dataset, name: str = "hazard") -> xr.DataArray:
    """``maps[name]`` minus the reference period's (same grid), units kept."""
    out = maps[name] - reference[name].reset_coords(drop=True)
    return out.assign_attrs(units=maps[name].attrs.get("units", ""), long_name=f"{name}: what-if minus reference")
