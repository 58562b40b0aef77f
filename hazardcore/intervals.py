"""Intervals across ensemble members: their names, and how often they hold the known truth.

An ensemble (:mod:`hazardcore.ensemble`) stores beside each mean the percentiles
:data:`PERCENTILES` of its members' values as ``{quantity}_p{level:02d}``; the outer two
form the reported interval (5–95 %: nominally 90 %). On synthetic cases the truth is
known, so the interval can be checked: a 90 % interval of the expected density given
occurrence should hold the truth's in about 90 % of the positive test cells.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

#: Percentiles across members stored beside each ensemble mean (the interval's ends and the median).
PERCENTILES = (5, 50, 95)
#: Quantity → (truth variable, whether only positive test cells are scored).
TRUTH_OF = {"susceptibility": ("true_probability", False), "density": ("true_density_given_occurrence", True),
            "hazard": ("true_hazard", True)}


def percentile_name(quantity: str, level: int) -> str:
    """``hazard_p05`` etc.: the variable holding a percentile across members."""
    return f"{quantity}_p{level:02d}"


def has_intervals(predictions: xr.Dataset) -> bool:
    """Whether the predictions are an ensemble's (they carry the interval's ends)."""
    return all(percentile_name(q, level) in predictions for q in TRUTH_OF for level in (PERCENTILES[0],
                                                                                         PERCENTILES[-1]))


def interval_width(predictions: xr.Dataset, quantity: str) -> xr.DataArray:
    """The width of a quantity's interval across members (its outer percentiles' difference), same units."""
    low, high = (predictions[percentile_name(quantity, level)] for level in (PERCENTILES[0], PERCENTILES[-1]))
    return (high - low).assign_attrs(units=high.attrs.get("units", ""), long_name=f"{quantity}: width of the "
                                     f"{PERCENTILES[0]}-{PERCENTILES[-1]} % interval across ensemble members")


def within(truth: np.ndarray, low: np.ndarray, high: np.ndarray, cells: np.ndarray) -> dict[str, float]:
    """Share of ``cells`` whose ``truth`` lies in [low, high], the cell count and the mean interval width."""
    chosen = cells & np.isfinite(truth) & np.isfinite(low) & np.isfinite(high)
    inside = (truth[chosen] >= low[chosen]) & (truth[chosen] <= high[chosen])
    return {"coverage": float(inside.mean()) if chosen.any() else float("nan"), "cells": int(chosen.sum()),
            "mean_width": float((high[chosen] - low[chosen]).mean()) if chosen.any() else float("nan")}


def interval_scores(predictions: xr.Dataset) -> dict[str, Any]:
    """How often the members' interval holds the known truth on the scored test cells.

    For the density given occurrence and the hazard the cells are the positive test cells;
    for the susceptibility every test cell. Quantities without a known truth (real data) are
    left out; ``interval`` names the percentiles and ``members`` counts the members.
    """
    test = predictions["test"].values.astype(bool)
    positive = test & (predictions["presence"].values > 0)
    low, high = PERCENTILES[0], PERCENTILES[-1]
    members = str(predictions.attrs.get("members", ""))
    scores: dict[str, Any] = {"interval": f"p{low:02d}-p{high:02d} across members",
                              "members": len(members.split(", ")) if members else 0}
    for quantity, (truth, positive_only) in TRUTH_OF.items():
        if truth in predictions:
            scores[quantity] = within(predictions[truth].values, predictions[percentile_name(quantity, low)].values,
                                      predictions[percentile_name(quantity, high)].values,
                                      positive if positive_only else test)
    return scores
