"""The original study's published maps (hazardcore.catalog.open_reference_maps, reference_on_grid)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from hazardcore.catalog import REFERENCE_FILES, open_reference_maps, reference_on_grid
from hazardcore.errors import CatalogError, MissingFileError
from hazardcore.grid import GridSpec

SHARED = Path(__file__).resolve().parents[2] / "shared"
REFERENCE = SHARED / "reference"
STUDY_GRID = GridSpec(crs="EPSG:32645", x_min=248635.08, y_max=3175441.11, n_rows=196, n_cols=220)
NAMES = ("susceptibility", "density", "hazard")
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(),
                                     reason=f"published reference maps not found at {REFERENCE}")


def missing_count(path: Path) -> int:
    """Cells holding the declared nodata, NaN or any |value| > 1e30, or 0 in every band of every
    published map (outside the study area), read with rasterio alone."""
    with rasterio.open(path) as src:
        values, nodata = src.read(), src.nodata
    missing = np.isnan(values) | (np.abs(values) > 1e30)
    if nodata is not None:
        missing |= values == np.asarray(nodata, dtype=values.dtype)
    zero_everywhere = np.ones(values.shape[1:], dtype=bool)
    for name in REFERENCE_FILES.values():
        with rasterio.open(path.parent / name) as src:
            zero_everywhere &= (src.read() == 0).all(axis=0)
    return int((missing | zero_everywhere[None]).sum())


@pytest.fixture(scope="module")
def published():
    return open_reference_maps(REFERENCE)


@pytest.mark.integration
@needs_reference
def test_published_maps_shapes_and_masking(published) -> None:
    for name in NAMES:
        da = published[name]
        assert da.dims == ("slice", "y", "x") and da.shape == (8, 196, 220)
        assert da.dtype == np.float32
        assert not (np.abs(da.values) > 1e30).any()
        assert int(np.isnan(da.values).sum()) == missing_count(REFERENCE / REFERENCE_FILES[name])
    assert list(published["slice"].values) == [f"band{i}" for i in range(1, 9)]
    assert published.attrs["cells_outside_study_area"] == 21760


@pytest.mark.integration
@needs_reference
def test_published_maps_value_ranges(published) -> None:
    sus, den = published["susceptibility"].values, published["density"].values
    assert np.nanmin(sus) >= 0.0 and np.nanmax(sus) <= 1.0
    assert np.nanmin(den) >= 0.0


@pytest.mark.integration
@needs_reference
def test_published_hazard_is_susceptibility_times_density(published) -> None:
    """Hazard = susceptibility × density (both in %), not × density/100: float32 rounding only."""
    sus, den, haz = (published[name].values.astype("float64") for name in NAMES)
    ok = ~np.isnan(haz)
    np.testing.assert_allclose(haz[ok], (sus * den)[ok], rtol=1e-3, atol=1e-5)
    assert np.abs(haz[ok] - sus[ok] * den[ok] / 100.0).max() > 1.0


@pytest.mark.integration
@needs_reference
def test_published_maps_georeferencing(published) -> None:
    assert published.rio.crs.to_epsg() == 32645
    assert published["x"].values[0] == pytest.approx(248635.08 + 500.0, abs=0.01)
    assert published["y"].values[0] == pytest.approx(3175441.11 - 500.0, abs=0.01)
    assert reference_on_grid(published, STUDY_GRID)
    assert not reference_on_grid(published, replace(STUDY_GRID, x_min=STUDY_GRID.x_min + 1000.0))
    assert not reference_on_grid(published, replace(STUDY_GRID, n_rows=195))
    assert not reference_on_grid(published, replace(STUDY_GRID, crs="EPSG:32644"))


@pytest.mark.integration
@needs_reference
def test_published_maps_take_slice_labels() -> None:
    labels = [f"s{i}" for i in range(8)]
    assert list(open_reference_maps(REFERENCE, labels)["slice"].values) == labels


# Small hand-written files: errors and sentinel handling, no shared data needed.
ORIGIN = (500000.0, 3000000.0)


def write_map(path: Path, values: np.ndarray, nodata: float | None) -> Path:
    transform = Affine(1000.0, 0.0, ORIGIN[0], 0.0, -1000.0, ORIGIN[1])
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[2], height=values.shape[1],
                       count=values.shape[0], dtype=values.dtype, crs="EPSG:32645", transform=transform,
                       nodata=nodata) as dst:
        dst.write(values)
    return path


def write_reference(folder: Path, bands: dict[str, int] | None = None) -> Path:
    """Three tiny maps in the published files' dtypes and nodata sentinels."""
    folder.mkdir(parents=True, exist_ok=True)
    counts = {"susceptibility": 2, "density": 2, "hazard": 2, **(bands or {})}
    specs = {"susceptibility": ("float64", 1.79e308), "density": ("float32", 3.4e38), "hazard": ("float64", None)}
    for name, (dtype, nodata) in specs.items():
        values = np.full((counts[name], 3, 4), 0.5, dtype=dtype)
        values[:, 0, 0] = np.finfo(dtype).max if nodata is None else nodata  # undeclared sentinel for hazard
        values[0, 2, 3] = -1e35 if dtype == "float64" else np.float32(3.4e38)
        write_map(folder / REFERENCE_FILES[name], values, nodata)
    return folder


def test_sentinels_become_nan(tmp_path: Path) -> None:
    ds = open_reference_maps(write_reference(tmp_path / "ref"), ["a", "b"])
    for name in NAMES:
        values = ds[name].values
        assert values.dtype == np.float32
        assert np.isnan(values[:, 0, 0]).all() and np.isnan(values[0, 2, 3])
        assert int(np.isnan(values).sum()) == 3
        assert np.all(values[~np.isnan(values)] == 0.5)
    assert ds.rio.crs.to_epsg() == 32645
    grid = GridSpec(crs="EPSG:32645", x_min=ORIGIN[0], y_max=ORIGIN[1], n_rows=3, n_cols=4)
    assert reference_on_grid(ds, grid)
    assert reference_on_grid(ds, replace(grid, x_min=ORIGIN[0] + 0.5))
    assert not reference_on_grid(ds, replace(grid, x_min=ORIGIN[0] + 2.0))


def test_missing_folder_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=REFERENCE_FILES["susceptibility"]):
        open_reference_maps(tmp_path / "nowhere")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    folder = write_reference(tmp_path / "ref")
    (folder / REFERENCE_FILES["hazard"]).unlink()
    with pytest.raises(MissingFileError, match=REFERENCE_FILES["hazard"]):
        open_reference_maps(folder)


def test_band_counts_must_agree(tmp_path: Path) -> None:
    folder = write_reference(tmp_path / "ref", bands={"density": 3})
    with pytest.raises(CatalogError, match="different numbers of bands") as info:
        open_reference_maps(folder)
    assert "expected" in str(info.value) and "found" in str(info.value)


def test_labels_must_match_bands(tmp_path: Path) -> None:
    folder = write_reference(tmp_path / "ref")
    with pytest.raises(CatalogError, match="slice labels") as info:
        open_reference_maps(folder, ["only-one"])
    assert "expected: 1 bands" in str(info.value) and "'susceptibility': 2" in str(info.value)
