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


@dataclass(frozen=True)
class EventSpec:
    """One triggering earthquake."""

    name: str
    date: dt.date
    magnitude: float | None = None


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
