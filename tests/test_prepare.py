"""prepare() on the hand-made tiny region: every number below is known from builders.py."""

import hashlib
import json
from pathlib import Path

import builders
import numpy as np
import pytest
import torch
import xarray as xr

from hazardcore.cube import PreparedCube
from hazardcore.datasets import PatchDataset
from hazardcore.predictors import CHANNELS
from hazardcore.triggers import STANDARD_GRAVITY_MS2


def test_summary_counts(tiny_workdir: Path) -> None:
    summary = json.loads((tiny_workdir / "prepare.json").read_text())
    assert summary["region_cells"] == [8, 8] and summary["region_pixels"] == [256, 256]
    assert summary["patches_per_slice"] == {"base": 4, "shifted": 1}
    assert summary["slices"] == ["2015-co", "2015-post", "2016-pre"]
    assert summary["channels"] == list(CHANNELS) and len(CHANNELS) == 16
    assert summary["masked_cells"] == [0, 0, 0]
    np.testing.assert_allclose(summary["positive_fraction"], [2 / 64, 1 / 64, 1 / 64], atol=1e-4)


def test_targets_by_differencing(tiny_workdir: Path) -> None:
    cube = PreparedCube.open(tiny_workdir)
    np.testing.assert_allclose(cube.density[:, 0, 0], [2.0, 0.0, 0.0])
    np.testing.assert_allclose(cube.density[:, 1, 1], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(cube.density[:, 2, 3], [5.0, 0.0, 0.0])
    assert cube.density.sum() == np.float32(2 + 1 + 2 + 5)
    assert cube.presence.sum() == 4 and cube.valid.all()


def test_trigger_channels(tiny_workdir: Path) -> None:
    cube = PreparedCube.open(tiny_workdir)
    image = cube.image(1, 0)
    rain_max = image[CHANNELS.index("rain_max")]
    np.testing.assert_allclose(rain_max, 100.0, rtol=1e-6)  # 2015-08-01 storm in slice 2015-post
    np.testing.assert_allclose(cube.image(0, 0)[CHANNELS.index("rain_max")], 9.0, rtol=1e-6)
    np.testing.assert_allclose(image[CHANNELS.index("pga_max")], 0.5 * STANDARD_GRAVITY_MS2, rtol=1e-5)
    np.testing.assert_allclose(image[CHANNELS.index("pga_std")], 0.1 * STANDARD_GRAVITY_MS2, rtol=1e-4)
    np.testing.assert_array_equal(cube.monsoons, [0, 1, 1])
    assert (image[CHANNELS.index("monsoons")] == 1).all()


def test_elevation_is_the_dem_inside_the_margin(tiny_workdir: Path) -> None:
    cube = PreparedCube.open(tiny_workdir)
    z, _, _ = builders.dem_values(builders.grid())
    np.testing.assert_allclose(cube.static[CHANNELS.index("elevation")], z[32:-32, 32:-32], rtol=1e-6)


def test_dataset_samples(tiny_workdir: Path) -> None:
    dataset = PatchDataset(tiny_workdir)
    assert len(dataset) == 3 * 5
    sample = dataset[5 + 4]  # slice 1, the shifted window (rows 2..5, cols 2..5)
    assert set(sample) == {"image", "presence", "density", "valid", "slice", "window"}
    assert sample["image"].shape == (16, 128, 128) and sample["image"].dtype.is_floating_point
    assert sample["slice"].item() == 1 and sample["window"].item() == 4
    assert sample["density"].shape == (4, 4) and bool(sample["valid"].all())
    assert float(sample["density"].sum()) == 0.0  # (1,1) lies outside the shifted window
    first = dataset[0]
    assert float(first["density"][0, 0]) == 2.0 and float(first["presence"][2, 3]) == 1.0


@pytest.mark.parametrize("cell_px", [32, 8])
def test_strip_loading_equals_reading_each_patch(tiny_workdir: Path, cell_px: int) -> None:
    from hazardcore.datasets import load_tensors, pool_image

    full = PatchDataset(tiny_workdir)
    order = np.random.default_rng(1).permutation(len(full))[:11]  # shuffled: loading must keep sample order
    dataset = PatchDataset(full.cube, full.sample_index[order])
    loaded = load_tensors(dataset, cell_px)
    for i in range(len(dataset)):
        sample = dataset[i]
        expected = pool_image(sample["image"].numpy(), 32 // cell_px)
        assert np.array_equal(loaded["image"][i].numpy(), expected), i
        for key in ("presence", "density", "valid", "slice", "window"):
            assert torch.equal(loaded[key][i], sample[key]), (i, key)
    assert {int(w) for w in loaded["window"]} >= {0, 4}  # base and shifted windows among them


@pytest.mark.filterwarnings("error")  # consolidated metadata: xarray warns on an unconsolidated store
def test_cube_opens_with_xarray(tiny_workdir: Path) -> None:
    import rioxarray  # noqa: F401  (the .rio accessor)
    from pyproj import CRS

    ds = xr.open_zarr(tiny_workdir / "prepared.zarr")
    assert ds["static"].dims == ("static_channel", "y", "x")
    assert list(ds["slice"].values) == ["2015-co", "2015-post", "2016-pre"]
    assert ds.attrs["grid"]["crs"] == "EPSG:32645"
    assert "spatial_ref" in ds.coords and "checksums" not in ds.variables  # bookkeeping left out of the view
    grid_crs = CRS.from_user_input(PreparedCube.open(tiny_workdir).grid.crs)
    assert CRS.from_user_input(ds.rio.crs) == grid_crs
    for name in ("static", "dynamic", "density", "valid"):  # both lattices name the grid mapping
        assert CRS.from_user_input(ds[name].rio.crs) == grid_crs, name
    ds = xr.open_zarr(tiny_workdir / "prepared.zarr", consolidated=True)  # one read: no listing of the store
    assert set(ds.data_vars) >= {"static", "dynamic", "density", "presence", "valid", "windows"}


def test_inputs_are_never_modified(region_copy: Path, tmp_path: Path) -> None:
    from hazardcore.prepare import prepare

    def digests() -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in region_copy.parent.iterdir()}

    before = digests()
    prepare(region_copy, tmp_path / "work")
    prepare(region_copy, tmp_path / "work")  # re-running replaces the cube atomically
    assert digests() == before
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["manifest.json", "prepare.json", "prepared.zarr"]


def test_written_files_are_readable_by_others(tiny_workdir: Path) -> None:
    for path in (tiny_workdir / "prepare.json", tiny_workdir / "prepared.zarr"):
        assert path.stat().st_mode & 0o044 == 0o044, f"{path} is not group/world readable"
