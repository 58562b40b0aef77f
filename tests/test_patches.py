import numpy as np

from hazardcore.patches import count_windows, patch_windows, window_cells


def test_default_region_window_counts() -> None:
    windows = patch_windows(32, 32)
    assert count_windows(windows) == {"base": 64, "shifted": 49}
    shifted = windows[windows[:, 0] == 1]
    assert shifted[:, 1:].min() == 2 and shifted[:, 1:].max() == 26


def test_non_square_and_non_multiple() -> None:
    windows = patch_windows(10, 13)  # rows 0,4 ; cols 0,4,8 ; shifted rows 2,6 ; cols 2,6
    assert count_windows(windows) == {"base": 6, "shifted": 4}
    assert (windows[:, 1] + 4 <= 10).all() and (windows[:, 2] + 4 <= 13).all()


def test_window_cells_gathers_blocks() -> None:
    cells = np.arange(2 * 8 * 8).reshape(2, 8, 8)
    windows = patch_windows(8, 8)
    blocks = window_cells(cells, windows)
    assert blocks.shape == (2, 5, 4, 4)
    np.testing.assert_array_equal(blocks[1, 4], cells[1, 2:6, 2:6])
    np.testing.assert_array_equal(blocks[0, 1], cells[0, 0:4, 4:8])
