"""hazardcore: space-time landslide hazard modelling.

The public API, for notebooks and scripts (the ``hazard`` command line calls the same)::

    import hazardcore as hc

    region = hc.synthesize("out/region", seed=42)          # or your own catalog.yaml
    hc.prepare_workdir(region.catalog_path, "out/work")
    model_config, train_config = hc.demo_configs()
    run, evaluation = hc.fit_run("out/work", model_config, train_config)  # train, predict, evaluate
    summary = hc.cross_validate("out/work", model_config, train_config, folds=4, seeds=[0, 1, 2])
    ensemble = hc.train_ensemble("out/work", model_config, train_config, members=5)
    evaluation = hc.evaluate_ensemble("out/work", ensemble)  # mean, spread, interval coverage
    maps, path = hc.forecast_run("out/work", run, "2019-post")  # a period under `forecasts:` in the catalog

Names are imported on first use, so ``import hazardcore`` stays light (no PyTorch until a
training or prediction function is touched). ``prepare_workdir`` and ``train_run`` are
``hazardcore.prepare.prepare`` and ``hazardcore.train.train``: a package attribute named
like a submodule is replaced by the submodule when it is imported.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("hazardcore")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"

#: Public name → the module that defines it (and the name there, when it differs).
PUBLIC: dict[str, str] = {
    "synthesize": "hazardcore.synthetic",
    "load_catalog": "hazardcore.catalog",
    "open_predictions": "hazardcore.export",
    "prepare_workdir": "hazardcore.prepare:prepare",
    "PreparedCube": "hazardcore.cube",
    "ModelConfig": "hazardcore.config",
    "TrainConfig": "hazardcore.config",
    "demo_configs": "hazardcore.config",
    "train_run": "hazardcore.train:train",
    "fit_run": "hazardcore.pipeline",
    "predict_run": "hazardcore.pipeline",
    "evaluate_run": "hazardcore.pipeline",
    "find_run": "hazardcore.pipeline",
    "demo": "hazardcore.pipeline",
    "roc_curves": "hazardcore.figure_data",
    "cross_validate": "hazardcore.cv",
    "leave_one_slice_out": "hazardcore.folds",
    "train_ensemble": "hazardcore.ensemble",
    "predict_ensemble": "hazardcore.ensemble",
    "evaluate_ensemble": "hazardcore.ensemble",
    "forecast_run": "hazardcore.forecast",
    "scenario_catalog": "hazardcore.forecast",
    "HazardcoreError": "hazardcore.errors",
}

__all__ = ["__version__", *sorted(PUBLIC)]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    if name not in PUBLIC:
        raise AttributeError(f"module 'hazardcore' has no attribute {name!r}")
    module, _, attribute = PUBLIC[name].partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *PUBLIC})
