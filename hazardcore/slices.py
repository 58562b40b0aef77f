"""Time slices and triggering events: the periods a hazard map is made for, and the earthquakes.

A slice is one mapping interval of a multi-temporal inventory: the landslides mapped after its
start and up to its end are its new landslides. Every layer speaks of slices through
:class:`SliceSpec` (read from the catalog, written into the prepared cube as ISO date pairs by
:func:`iso_pairs`, read back by :func:`from_iso_pairs`); arrays index them in catalog order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SliceSpec:
    """One time slice: new landslides mapped after ``start`` up to ``end`` (inclusive)."""

    label: str
    start: dt.date
    end: dt.date
    monsoons: int | None = None
    labelled: bool = True  # False: a forecast or scenario period, no inventory (never a label)


@dataclass(frozen=True)
class EventSpec:
    """One triggering earthquake."""

    name: str
    date: dt.date
    magnitude: float | None = None


@dataclass(frozen=True)
class RainScenario:
    """A period's rain built from the record when no forecast exists (:mod:`hazardcore.scenarios`).

    ``kind`` ``"scaled"``: the daily rain of the past period ``period`` times ``factor``.
    ``kind`` ``"return_period"``: the past period ``period``'s daily pattern scaled, pixel by
    pixel, so that its wettest day equals the ``return_period_years`` design daily rainfall of a
    GEV fitted to the record's annual maxima.
    """

    kind: str
    period: str
    factor: float = 1.0
    return_period_years: float | None = None


@dataclass(frozen=True)
class QuakeScenario:
    """An earthquake given by magnitude and location (grid CRS, metres): its median PGA field.

    The field follows the ground-motion law of the synthetic world
    (:mod:`hazardcore.synthetic_triggers`): a Wells & Coppersmith rupture anchored at
    (``x``, ``y``) with its top at ``depth_km``, and the median of
    ``ln PGA[g] = a + b (M − 6) − ln √(R² + h²) − k R``.
    """

    magnitude: float
    x: float
    y: float
    depth_km: float = 10.0


def iso_pairs(slices: Sequence[SliceSpec]) -> list[list[str]]:
    """The slices' (start, end) dates as ISO strings, as the prepared cube stores them."""
    return [[spec.start.isoformat(), spec.end.isoformat()] for spec in slices]


def from_iso_pairs(labels: Sequence[str], pairs: Sequence[Sequence[str]],
                   monsoons: Sequence[int] | None = None) -> list[SliceSpec]:
    """Slices from their labels and stored ISO (start, end) dates (and monsoon counts, when known).

    Raises
    ------
    ValueError
        If the counts differ or a date is not ISO (YYYY-MM-DD).
    """
    if len(labels) != len(pairs) or (monsoons is not None and len(monsoons) != len(labels)):
        raise ValueError(f"{len(labels)} slice labels but {len(pairs)} date pairs"
                         + ("" if monsoons is None else f" and {len(monsoons)} monsoon counts"))
    return [SliceSpec(str(label), dt.date.fromisoformat(str(start)), dt.date.fromisoformat(str(end)),
                      None if monsoons is None else int(monsoons[index]))
            for index, (label, (start, end)) in enumerate(zip(labels, pairs, strict=True))]
