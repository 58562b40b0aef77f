"""Units of the input layers: which unit each kind of layer may have, and its conversion.

Every catalog entry declares its unit (``units:``); a layer is converted explicitly to the
unit the pipeline works in (m for elevation, m/s² for ground motion, mm/day for rainfall,
m² for mapped landslide area), and the unit is recorded in the DataArray's attrs. A missing
or unknown unit is an error that lists the units accepted, never a silent assumption.
Unit spellings follow the usual ones of the formats (ShakeMap writes ``pctg`` for % g,
CF NetCDF ``kg m-2 s-1`` for a rain rate); common other spellings of the same units
(``m/s²``, ``mm d-1``, ``percent g``, upper case) are read as them by :func:`canonical`.
"""

from __future__ import annotations

from pathlib import Path

from hazardcore.errors import UnitError, describe

STANDARD_GRAVITY_MS2 = 9.80665
SECONDS_PER_DAY = 86400.0

# factor from the declared unit to the pipeline's unit, per kind of quantity
ACCELERATION_TO_MS2 = {"m/s2": 1.0, "m/s^2": 1.0, "m s-2": 1.0, "g": STANDARD_GRAVITY_MS2,
                       "%g": STANDARD_GRAVITY_MS2 / 100.0, "pct_g": STANDARD_GRAVITY_MS2 / 100.0,
                       "pctg": STANDARD_GRAVITY_MS2 / 100.0, "% g": STANDARD_GRAVITY_MS2 / 100.0}
RAIN_TO_MM_DAY = {"mm/day": 1.0, "mm/d": 1.0, "mm day-1": 1.0, "mm": 1.0, "m/day": 1000.0,
                  "kg m-2 s-1": SECONDS_PER_DAY, "mm/h": 24.0}
LENGTH_TO_M = {"m": 1.0, "metre": 1.0, "meter": 1.0, "metres": 1.0, "meters": 1.0, "ft": 0.3048,
               "foot": 0.3048, "feet": 0.3048, "km": 1000.0}
# area per cell: "%" and "fraction" are relative to the cell, so their factor needs the cell area
AREA_TO_M2 = {"m2": 1.0, "m^2": 1.0, "m**2": 1.0, "km2": 1.0e6, "ha": 1.0e4}
CELL_RELATIVE = {"%": 0.01, "percent": 0.01, "fraction": 1.0, "1": 1.0}
# a standard deviation of ln(PGA) is dimensionless ("natural-log units")
LOG_UNITS = ("ln", "ln(g)", "natural log")

# other spellings of the accepted units (after Unicode superscripts, case and spaces are normalised)
ALIASES = {"m s^-2": "m s-2", "m s**-2": "m s-2", "m.s-2": "m s-2", "m/s/s": "m/s2", "m/sec2": "m/s2",
           "m/sec^2": "m/s2", "percent g": "%g", "% of g": "%g", "pct g": "%g", "percent_g": "%g",
           "mm d-1": "mm day-1", "mm d^-1": "mm day-1", "mm day^-1": "mm day-1", "mm.d-1": "mm day-1",
           "mm.day-1": "mm day-1", "mm/24h": "mm/day", "mm per day": "mm/day", "millimeters/day": "mm/day",
           "millimetres/day": "mm/day", "millimeter/day": "mm/day", "millimetre/day": "mm/day",
           "kg m^-2 s^-1": "kg m-2 s-1", "kg/m2/s": "kg m-2 s-1", "kg m-2 d-1": "mm day-1",
           "kg m-2 day-1": "mm day-1", "mm h-1": "mm/h", "mm/hr": "mm/h", "sq m": "m2",
           "metre^2": "m2", "meter^2": "m2"}
SUPERSCRIPTS = str.maketrans({"²": "2", "³": "3", "⁻": "-", "¹": "1", "·": " ", "⋅": " "})

TABLES = {"acceleration": ACCELERATION_TO_MS2, "rain rate": RAIN_TO_MM_DAY, "length": LENGTH_TO_M,
          "area": AREA_TO_M2}
TARGET = {"acceleration": "m/s2", "rain rate": "mm/day", "length": "m", "area": "m2"}
ROLE_KIND = {"dem": "length", "pga": "acceleration", "rainfall": "rain rate", "inventory": "area"}
ROLE_LABEL = {"dem": "elevation", "pga": "PGA", "rainfall": "rainfall", "inventory": "landslide area"}


def canonical(unit: str | None) -> str:
    """The accepted spelling of a unit written another common way (``m/s²``, ``mm d-1``, ``Percent G``).

    Unicode superscripts, case, spaces and the aliases of :data:`ALIASES` are normalised; a
    spelling that is not a unit of any kind is returned stripped, unchanged otherwise.
    """
    text = (unit or "").strip()
    plain = " ".join(text.translate(SUPERSCRIPTS).lower().split())
    known = {name for table in (*TABLES.values(), CELL_RELATIVE) for name in table} | set(LOG_UNITS)
    if plain in known:
        return plain
    return ALIASES.get(plain, text)


def is_unit(unit: str | None) -> bool:
    """Whether a text (e.g. a file's unit tag) spells a unit of any kind this module knows."""
    return any(canonical(unit) in accepted(kind) for kind in TABLES)


def accepted(kind: str) -> list[str]:
    """Unit spellings accepted for a kind of quantity (``acceleration``, ``rain rate``, ...)."""
    names = list(TABLES[kind])
    if kind == "area":
        names += list(CELL_RELATIVE)
    if kind == "acceleration":
        names += list(LOG_UNITS)
    return names


def check_declared(kind: str, units: str | None, source: str | Path, label: str | None = None) -> str:
    """Return the declared unit, stripped, when it is one of the units of ``kind``.

    ``label`` names the quantity in the message (e.g. ``PGA``; default ``kind``).

    Raises
    ------
    UnitError
        If ``units`` is missing or not accepted for ``kind``.
    """
    unit = canonical(units)
    if unit not in accepted(kind):
        raise UnitError(describe(f"{label or kind} unit missing or unknown", source=source,
                                 expected=" | ".join(accepted(kind)), found=unit or "no `units:`",
                                 fix="declare the file's unit with `units:` in its catalog entry"))
    return unit


def factor(kind: str, units: str | None, source: str | Path, cell_area_m2: float | None = None,
           label: str | None = None) -> float:
    """Multiplier that turns values in ``units`` into the pipeline unit of ``kind`` (see ``TARGET``).

    Parameters
    ----------
    kind
        ``acceleration``, ``rain rate``, ``length`` or ``area``.
    units
        The declared unit.
    source
        File or layer, for messages.
    cell_area_m2
        Cell area, needed for cell-relative area units (``%``, ``fraction``).
    label
        Name of the quantity in messages (default ``kind``).

    Raises
    ------
    UnitError
        If the unit is missing, unknown, not convertible (log units) or cell-relative without a cell area.
    """
    unit = check_declared(kind, units, source, label)
    if unit in TABLES[kind]:
        return TABLES[kind][unit]
    if kind == "area" and cell_area_m2 is not None:
        return CELL_RELATIVE[unit] * cell_area_m2
    raise UnitError(describe(f"{unit!r} cannot be converted to {TARGET[kind]} here", source=source,
                             expected=" | ".join(TABLES[kind]), found=unit,
                             fix="convert the layer to one of the expected units"))


def same_unit(kind: str, declared: str, in_file: str) -> bool:
    """Whether two spellings of ``kind`` name the same unit (``pctg`` and ``%g`` do).

    A std of a logarithm is dimensionless whatever unit is inside the log, so ``ln`` matches
    ShakeMap's ``ln(pctg)``.
    """
    declared, in_file = canonical(declared), canonical(in_file)
    if declared in LOG_UNITS and in_file.startswith("ln"):
        return True
    table = TABLES[kind]
    if declared in table and in_file in table:
        return table[declared] == table[in_file]
    return declared == in_file
