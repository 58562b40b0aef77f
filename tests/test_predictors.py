"""The channel table: one definition of the channels' names, groups, units and image order."""

from __future__ import annotations

import numpy as np

from hazardcore.config import ModelConfig
from hazardcore.predictors import (
    CHANNEL_TABLE,
    CHANNEL_UNITS,
    CHANNELS,
    DYNAMIC_CHANNELS,
    PERIOD_CHANNELS,
    STATIC_CHANNELS,
    assemble_image,
)


def test_the_image_holds_each_channel_where_the_table_puts_it() -> None:
    position = {name: float(index) for index, name in enumerate(CHANNELS)}
    static = np.array([np.full((2, 3), position[name]) for name in STATIC_CHANNELS], dtype="float32")
    dynamic = np.array([np.full((2, 3), position[name]) for name in DYNAMIC_CHANNELS], dtype="float32")
    period = np.array([position[name] for name in PERIOD_CHANNELS], dtype="float32")
    image = assemble_image(static, dynamic, period)
    assert image.shape == (16, 2, 3)
    assert image[:, 1, 2].tolist() == list(range(16))


def test_every_channel_has_one_unit_and_the_model_expects_them_all() -> None:
    assert len({channel.name for channel in CHANNEL_TABLE}) == len(CHANNEL_TABLE) == 16
    assert CHANNEL_UNITS["rain_total"] == "mm" and CHANNEL_UNITS["pga_max"] == "m/s2"
    assert all(channel.units and channel.long_name for channel in CHANNEL_TABLE)
    assert [channel.group for channel in CHANNEL_TABLE] == ["terrain"] * 8 + ["rain"] * 3 + ["pga"] * 2 + ["period"] * 3
    assert ModelConfig().in_channels == len(CHANNELS)
