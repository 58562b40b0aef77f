"""Permutation importance: the right channels are permuted, drops are measured, seasons are kept apart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hazardcore.cli import main
from hazardcore.importance import (
    GROUP_NAMES,
    Patches,
    by_season,
    effects,
    features,
    permutation_importance,
)
from hazardcore.predictors import CHANNELS, ChannelScaling
from hazardcore.runfolder import IMPORTANCE

SLOPE, RAIN = CHANNELS.index("slope"), CHANNELS.index("rain_max")


def known_world(n: int = 240, seed: int = 1) -> Patches:
    """Patches whose presence follows the mean slope channel and whose density follows the rain channel."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(n, len(CHANNELS), 8, 8)).astype("float32")
    slope = image[:, SLOPE].mean(axis=(1, 2))
    rain = image[:, RAIN].mean(axis=(1, 2))
    presence = np.repeat((slope > 0)[:, None, None], 4, 1).repeat(4, 2)
    density = np.repeat(np.exp(rain)[:, None, None], 4, 1).repeat(4, 2) * (1 + 0.1 * rng.random((n, 4, 4)))
    season = np.where(np.arange(n) % 3 == 0, "co-seismic", "post-monsoon")
    return Patches(torch.from_numpy(image), np.ones((n, 4, 4), dtype=bool), presence, density, season)


def oracle_of_known_world(image: torch.Tensor) -> dict[str, np.ndarray]:
    slope = image[:, SLOPE].mean(dim=(1, 2)).numpy()
    rain = image[:, RAIN].mean(dim=(1, 2)).numpy()
    shape = (len(image), 4, 4)
    return {"probability": np.broadcast_to(1 / (1 + np.exp(-4 * slope))[:, None, None], shape),
            "density": np.broadcast_to(np.exp(rain)[:, None, None], shape)}


def test_only_the_channels_a_model_uses_matter_and_each_for_its_own_score() -> None:
    patches = known_world()
    result = permutation_importance(oracle_of_known_world, patches, features(list(CHANNELS), per_channel=True),
                                    repeats=3)
    assert result["baseline"]["auc"] == 1.0 and result["baseline"]["r_positive"] > 0.95
    importance = result["importance"]
    assert importance["terrain"]["auc"]["mean"] > 0.3 and importance["slope"]["auc"]["mean"] > 0.3
    assert importance["rain"]["r_positive"]["mean"] > 0.5 and importance["rain_max"]["r_positive"]["mean"] > 0.5
    for name in ("ground motion", "time since the earthquake", "elevation", "pga_max", "monsoons"):
        assert importance[name]["auc"]["mean"] == 0.0 and importance[name]["r_positive"]["mean"] == 0.0
    assert importance["rain"]["auc"]["mean"] == 0.0 and importance["terrain"]["r_positive"]["mean"] == 0.0
    low, high = importance["terrain"]["auc"]["low"], importance["terrain"]["auc"]["high"]
    assert low <= importance["terrain"]["auc"]["mean"] <= high and importance["terrain"]["auc"]["repeats"] == 3


def test_seasons_are_scored_on_their_own_patches() -> None:
    result = by_season(oracle_of_known_world, known_world(), features(list(CHANNELS)), repeats=2, seed=0)
    assert {name: block["patches"] for name, block in result.items()} == {"all": 240, "co-seismic": 80, "rain": 160}
    assert set(result["rain"]["importance"]) == set(GROUP_NAMES.values())


def test_the_command_writes_the_run_importance(evaluated_root: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    work = tmp_path / "work"
    shutil.copytree(evaluated_root / "work", work)
    assert main(["explain", str(work), "--repeats", "2", "--max-patches", "40", "--quiet"]) == 0
    run = next((work / "runs").iterdir())
    written = json.loads((run / IMPORTANCE).read_text())
    assert written["repeats"] == 2 and written["seasons"]["all"]["patches"] <= 40
    assert "ground motion" in capsys.readouterr().out


def test_partial_dependence_follows_the_driver_and_ignores_the_rest() -> None:
    patches = known_world()
    n = len(CHANNELS)
    identity = ChannelScaling(mean=np.zeros(n, dtype="float32"), std=np.ones(n, dtype="float32"))
    found = effects(oracle_of_known_world, patches, list(CHANNELS), identity, names=("slope", "elevation", "rain_max"))
    slope, elevation, rain = (found["all"][name] for name in ("slope", "elevation", "rain_max"))
    assert np.all(np.diff(slope["values"]) > 0) and np.all(np.diff(slope["probability"]) > 0)
    assert slope["probability"][-1] - slope["probability"][0] > 0.2
    assert np.ptp(elevation["probability"]) == 0.0 and np.ptp(elevation["density"]) == 0.0
    assert np.all(np.diff(rain["density"]) > 0) and np.ptp(rain["probability"]) == 0.0
    # a patch whose slope is set to the median has, on average, the probability of a median-slope patch
    assert slope["probability"][2] == pytest.approx(1 / (1 + np.exp(-4 * slope["values"][2])), abs=1e-6)
    assert set(found) == {"all", "co-seismic", "rain"}
