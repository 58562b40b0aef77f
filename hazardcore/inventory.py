"""Multi-temporal inventory → per-slice new-landslide area density (METHOD.md §4).

The inventory holds, per 1 km cell and mapping date, the *cumulative* mapped landslide
area (old scars included). The target of slice t is ``max(0, A_t − A_{t−1})`` as a percent
of the cell: a decrease is vegetation recovery, not a landslide, and becomes 0.

The area may come in m², km², ha, or relative to the cell (``%``, ``fraction``): its
``units`` attribute (the catalog's ``units:``) is converted to m² first. Gridded
inventories and polygons (:mod:`hazardcore.polygons`, read by ``catalog``) both arrive
here as cumulative area per cell; point catalogues of events never do.
"""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import xarray as xr

from hazardcore.errors import InvalidValueError, InventoryError, describe
from hazardcore.slices import SliceSpec
from hazardcore.units import factor as unit_factor

AREA_TOLERANCE_M2 = 1.0  # rounding slack allowed above the cell area


def check_dates(dates: list[dt.date], slices: list[SliceSpec], source: str) -> bool:
    """Check mapping dates against the slices; return True when the first date is a baseline.

    With ``len(slices) + 1`` dates the first is a pre-event baseline and slice t runs from
    date t to date t+1; with ``len(slices)`` dates the baseline is an empty inventory.

    Raises
    ------
    InventoryError
        If dates do not increase, their number does not fit the slices, or a slice's end is
        not a mapping date.
    """
    for before, after in itertools.pairwise(dates):
        if after <= before:
            raise InventoryError(describe("inventory dates are not increasing", source=source,
                                          expected="strictly increasing mapping dates",
                                          found=f"{before} followed by {after}",
                                          fix="order the bands by mapping date"))
    if len(dates) not in (len(slices), len(slices) + 1):
        raise InventoryError(describe("inventory bands do not match the slices", source=source,
                                      expected=f"{len(slices) + 1} dates (baseline + one per slice)",
                                      found=f"{len(dates)} dates"))
    baseline = len(dates) == len(slices) + 1
    ends = dates[1:] if baseline else dates
    for slice_spec, end in zip(slices, ends, strict=True):
        if slice_spec.end != end:
            raise InventoryError(describe(f"slice {slice_spec.label} does not end on a mapping date",
                                          source=source, expected=str(slice_spec.end), found=str(end)))
    return baseline


def check_areas(cumulative_m2: xr.DataArray, cell_area_m2: float, source: str) -> None:
    """Refuse negative areas and areas above the cell area.

    Raises
    ------
    InvalidValueError
        Naming the count, the worst value and the band of the offending values.
    """
    values = cumulative_m2.values
    for test, what in ((values < 0, "negative"), (values > cell_area_m2 + AREA_TOLERANCE_M2,
                                                  "above the cell area")):
        count = int(np.count_nonzero(test))
        if count:
            band, row, col = np.argwhere(test)[0]
            raise InvalidValueError(describe(
                f"{count} inventory values are {what}", source=source,
                expected=f"cumulative landslide area in m² within [0, {cell_area_m2:.0f}]",
                found=f"{values[band, row, col]:.1f} in band {band + 1} at cell (row {row}, col {col})",
                fix="check the unit (m² per cell expected) and the nodata value"))


def area_in_m2(cumulative: xr.DataArray, cell_area_m2: float, source: str) -> xr.DataArray:
    """The cumulative area in m², converted from its ``units`` attribute (none: already m²).

    Raises
    ------
    UnitError
        If the unit is declared but empty or not an area (m2, km2, ha, %, fraction).
    """
    if "units" not in cumulative.attrs:
        return cumulative
    scale = unit_factor("area", cumulative.attrs["units"], source, cell_area_m2, label="landslide area")
    out = cumulative if scale == 1.0 else cumulative * scale
    return out.assign_attrs(units="m2")


def new_landslide_density(cumulative_m2: xr.DataArray, dates: list[dt.date],
                          slices: list[SliceSpec], cell_area_m2: float,
                          source: str = "inventory") -> xr.DataArray:
    """Per-slice new-landslide area density (% of the cell) by differencing.

    Parameters
    ----------
    cumulative_m2
        (band, y, x) cumulative mapped area per cell, NaN = nodata, on the 1 km grid; in m²
        unless its ``units`` attribute says otherwise (see :func:`area_in_m2`).
    dates
        Mapping date of each band.
    slices
        Time slices; each must end on a mapping date.
    cell_area_m2
        Area of one cell (m²).
    source
        File name for messages.

    Returns
    -------
    xarray.DataArray
        (slice, y, x) float32 density in %, NaN where either date is nodata.
    """
    baseline = check_dates(dates, slices, source)
    cumulative_m2 = area_in_m2(cumulative_m2, cell_area_m2, source)
    check_areas(cumulative_m2, cell_area_m2, source)
    areas = cumulative_m2.values.astype("float64")
    if not baseline:
        areas = np.concatenate([np.zeros_like(areas[:1]), areas])
    increase = np.maximum(np.diff(areas, axis=0), 0.0)
    increase[np.isnan(np.diff(areas, axis=0))] = np.nan
    density = (100.0 * increase / cell_area_m2).astype("float32")
    coords = {"slice": [s.label for s in slices], "y": cumulative_m2["y"], "x": cumulative_m2["x"]}
    return xr.DataArray(density, dims=("slice", "y", "x"), coords=coords, name="density",
                        attrs={"units": "%", "long_name": "new landslide area density"})


def presence(density_pct: xr.DataArray) -> xr.DataArray:
    """Return 1 where new landslides occurred (density > 0), 0 elsewhere, NaN where unknown."""
    out = xr.where(density_pct > 0, 1.0, 0.0).where(density_pct.notnull())
    out = out.astype("float32").rename("presence")
    return out.assign_attrs(units="1", long_name="new landslides present")
