"""Whole-grid prediction: window geometry, averaging, edges, and the Dataset it returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hazardcore.config import ModelConfig
from hazardcore.cube import PreparedCube
from hazardcore.datasets import pool_image
from hazardcore.errors import ConfigError
from hazardcore.infer import predict_cells, prediction_dataset, window_origins
from hazardcore.models import HazardModel
from hazardcore.predictors import ChannelScaling

CELL_PX = 8


class CellProbe(nn.Module):
    """Stand-in model: logit = mean of channel 0 over each cell; density = the cell's position in the window."""

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        cells = nn.functional.avg_pool2d(image[:, :1], CELL_PX).squeeze(1)  # (B, 4, 4)
        position = torch.arange(16, dtype=torch.float32).reshape(4, 4).expand_as(cells)
        return {"logit": cells, "density": position.clone()}


def scaling(cube: PreparedCube) -> ChannelScaling:
    n = len(cube.channels)
    return ChannelScaling(np.linspace(0.5, 2.0, n), np.linspace(1.0, 3.0, n))


@pytest.mark.parametrize(("n_cells", "patch", "stride"), [(8, 4, 2), (9, 4, 2), (10, 4, 1), (7, 4, 4)])
def test_every_cell_lies_in_the_same_number_of_windows(n_cells: int, patch: int, stride: int) -> None:
    origins = window_origins(n_cells, patch, stride)
    covered = np.zeros(n_cells, dtype=int)
    for origin in origins:
        covered[max(origin, 0):min(origin + patch, n_cells)] += 1
    assert (covered == patch // stride).all()
    with pytest.raises(ConfigError, match="divide"):
        window_origins(n_cells, 4, 3)


def test_cells_are_averaged_over_windows_at_their_own_place(tiny_workdir: Path) -> None:
    cube = PreparedCube.open(tiny_workdir)
    scale = scaling(cube)
    cells = predict_cells(CellProbe(), cube, scale, CELL_PX, torch.device("cpu"), stride_cells=2)  # type: ignore[arg-type]
    valid = cube.valid.astype(bool)
    assert (cells["windows"] == 4).all()
    assert np.isfinite(cells["logit"][valid]).all() and np.isnan(cells["logit"][~valid]).all()
    # logit: every window sees the cell's own pixels, so the mean equals the cell's scaled channel-0 mean
    ppc = cube.grid.pixels_per_cell
    for s, row, col in zip(*np.nonzero(valid), strict=True):
        image = cube.block_image(s, slice(row * ppc, (row + 1) * ppc), slice(col * ppc, (col + 1) * ppc))
        expected = (pool_image(image, ppc // CELL_PX)[0].mean() - scale.mean[0]) / scale.std[0]
        assert cells["logit"][s, row, col] == pytest.approx(expected, rel=1e-4, abs=1e-5)
    # density: a cell sits at in-window rows {r%2, r%2 + 2} and cols {c%2, c%2 + 2}; edge cells too
    rows, cols = np.meshgrid(np.arange(cube.grid.n_rows), np.arange(cube.grid.n_cols), indexing="ij")
    expected_position = 4 * (1 + rows % 2) + (1 + cols % 2)
    for s in range(valid.shape[0]):
        np.testing.assert_allclose(cells["density"][s][valid[s]], expected_position[valid[s]])


def test_prediction_dataset_has_the_grid_and_every_valid_cell(tiny_workdir: Path) -> None:
    cube = PreparedCube.open(tiny_workdir)
    config = ModelConfig(cell_px=CELL_PX, encoder_depth=3, decoder_channels=[8, 8, 4], density_conv_channels=4,
                         density_hidden=[8, 4])
    torch.manual_seed(0)
    model = HazardModel(config).eval()
    cells = predict_cells(model, cube, scaling(cube), CELL_PX, torch.device("cpu"), batch_size=7)
    test = np.zeros(cube.valid.shape, dtype=bool)
    test[:, :4] = True
    ds = prediction_dataset(cube, cells, {"test": test})
    assert ds["susceptibility_uncalibrated"].dims == ("slice", "y", "x")
    assert ds.sizes == {"slice": len(cube.slice_labels), "y": cube.grid.n_rows, "x": cube.grid.n_cols}
    assert ds.rio.crs.to_epsg() == 32645 and ds.rio.transform() == cube.grid.transform("1km")
    np.testing.assert_allclose(ds["x"].values, cube.grid.coords("1km")["x"])
    valid = cube.valid.astype(bool)
    assert np.isfinite(ds["susceptibility_uncalibrated"].values[valid]).all()
    assert ((ds["density"].values[valid]) >= 0).all()
    np.testing.assert_array_equal(ds["observed_density"].values[valid], cube.density[valid])
    assert ds["test"].dtype == np.uint8 and int(ds["test"].sum()) == test.sum()
    assert list(ds["slice"].values) == cube.slice_labels
    assert str(ds["slice_start"].values[0])[:10] == cube.slice_dates[0][0]
