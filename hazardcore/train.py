"""Training of the ensemble (METHOD.md §6), resumable and deterministic on the CPU.

The stages (:mod:`hazardcore.stages`: what each one optimises, on which patches, by which
loss), each early-stopped on its own validation score: ``susceptibility`` (the U-Net on
presence), then ``density`` (the density-given-occurrence head on positive cells, by the
likelihood of its distribution, so its mean is E[density | occurrence] and hazard =
calibrated probability × that mean is the expected density).

The original study's curriculum (log-target MAE → MAE on positives → MAE on all cells,
then a joint MAE of p × density on all cells) is not used: MAE over cells that are ~85 %
zeros has its optimum at the *unconditional* median, 0 wherever P < 0.5, and pulled half
of the positive cells' density to zero (measured, benchmarks/RESULTS.md). A joint stage
with a hurdle likelihood would add nothing: the two networks share no parameter, so the
hurdle log-likelihood (Bernoulli occurrence + density given occurrence) is maximised by
training each on its own term, which is what the two stages do.

Each epoch is scored, and the best one kept, with a moving average of the weights
(:mod:`hazardcore.averaging`; ``weight_average_decay``), which removes most of the
epoch-to-epoch noise of a small validation set. Every epoch writes the stage's last
checkpoint (live and averaged weights, optimiser, scheduler and early-stopping state) and a
line of the run's ``log.jsonl``; the best epoch by validation loss is kept. Batch order,
augmentation and dropout draws depend only on (seed, stage, epoch), so a run killed at any
point and resumed ends with the same weights. Data stays resident (in memory, or on the
GPU).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from hazardcore import metrics
from hazardcore.atomic import append_line, remove_temporaries, write_text
from hazardcore.augment import random_element, transform_batch
from hazardcore.averaging import WeightAverage
from hazardcore.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from hazardcore.config import ModelConfig, TrainConfig, bootstrap_seed, config_hash, weights_seed
from hazardcore.cube import PreparedCube
from hazardcore.datasets import PatchDataset, load_tensors, split_of, valid_pixels
from hazardcore.distributed import Ranks, process_group, single_process, synchronise_batch_norm
from hazardcore.errors import ConfigError, describe
from hazardcore.models import HazardModel, build_model, check_input, parameter_groups
from hazardcore.predictors import ChannelScaling, fit_scaling
from hazardcore.runfolder import CHECKPOINTS, CONFIG, LOG, MODEL, checkpoint_path, run_path
from hazardcore.runstatus import clear_outputs, recording, refuse_if_busy
from hazardcore.splits import Split, block_bootstrap
from hazardcore.stages import REGISTRY, STAGES, stage_loss, stage_outputs, stage_samples, stages_to_run

Batch = dict[str, torch.Tensor]
Callback = Callable[[dict[str, Any]], None]


@dataclass
class TrainingData:
    """Resident, scaled tensors of both sides of the split."""

    train: Batch
    validation: Batch
    scaling: ChannelScaling
    split: Split
    channels: list[str]
    slices: list[str]
    oracle: dict[str, float]


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(describe("device cuda requested but no CUDA device is available",
                                   fix="use --device auto or cpu"))
    return torch.device(name)


def scale_batch_in_place(batch: Batch, scaling: ChannelScaling, cell_px: int) -> Batch:
    """Standardise the image channels in place; pixels of invalid cells become 0 (the mean).

    In place because the images are the largest object of a run (4.4 GB for the study area's
    training patches at 64 px): a scaled copy tripled the peak with its temporaries.
    """
    mean = torch.as_tensor(scaling.mean, dtype=torch.float32)[None, :, None, None]
    std = torch.as_tensor(scaling.std, dtype=torch.float32)[None, :, None, None]
    keep = torch.from_numpy(valid_pixels(batch["valid"].numpy(), cell_px))[:, None]
    batch["image"].sub_(mean).div_(std).mul_(keep)
    return batch


def load_training_data(workdir: str | Path, model_config: ModelConfig, train_config: TrainConfig,
                       progress: bool = False) -> TrainingData:
    """Split the prepared samples, load both sides resident and fit the scaling on training cells."""
    cube = PreparedCube.open(workdir)
    check_input(model_config, cube.channels, (len(cube.channels), cube.patch_cells * model_config.cell_px,
                                              cube.patch_cells * model_config.cell_px))
    split = split_of(cube, train_config)
    samples = cube.samples()
    train = load_tensors(PatchDataset(cube, training_samples(cube, split, samples, train_config)),
                         model_config.cell_px, progress)
    validation_samples = subset(split.samples(samples, "validation"), train_config.validation_samples,
                                train_config.seed)
    validation = load_tensors(PatchDataset(cube, validation_samples), model_config.cell_px, progress)
    pixel_masks = valid_pixels(train["valid"].numpy(), model_config.cell_px)
    scaling = fit_scaling((image.numpy(), mask) for image, mask in zip(train["image"], pixel_masks, strict=True))
    return TrainingData(scale_batch_in_place(train, scaling, model_config.cell_px),
                        scale_batch_in_place(validation, scaling, model_config.cell_px),
                        scaling, split, cube.channels, cube.slice_labels,
                        oracle_scores(cube, validation_samples, validation))


def training_samples(cube: PreparedCube, split: Split, samples: np.ndarray, train_config: TrainConfig) -> np.ndarray:
    """The training side's samples, resampled by spatial block when ``bootstrap_blocks`` is set."""
    train = split.samples(samples, "train")
    if not train_config.bootstrap_blocks:
        return train
    return block_bootstrap(train, cube.windows, cube.grid.n_rows, cube.grid.n_cols,
                           train_config.split_block_patches * cube.patch_cells, bootstrap_seed(train_config),
                           cube.patch_cells)


def subset(samples: np.ndarray, n_samples: int, seed: int) -> np.ndarray:
    """A fixed random subset of ``n_samples`` rows in their original order (0 or more than there are: all)."""
    if n_samples == 0 or n_samples >= len(samples):
        return samples
    keep = np.random.default_rng(seed).choice(len(samples), size=n_samples, replace=False)
    return samples[np.sort(keep)]


def oracle_scores(cube: PreparedCube, samples: np.ndarray, validation: Batch) -> dict[str, float]:
    """Scores of the known truth (synthetic cases) on the validation cells: the skill ceiling."""
    if not {"p_occurrence", "expected_density_given_occurrence"} <= set(cube.truth):
        return {}
    valid = validation["valid"].numpy()
    presence = validation["presence"].numpy()[valid] > 0
    density = validation["density"].numpy()[valid]
    probability = cube.truth_cells("p_occurrence", samples)[valid]
    given = cube.truth_cells("expected_density_given_occurrence", samples)[valid]
    scores = score("probability", probability, presence, density)
    scores |= score("density", given, presence, density)
    return {key.replace("val_", "oracle_"): value for key, value in scores.items()}


def both_stages_loss(model: HazardModel, batch: Batch, config: TrainConfig) -> torch.Tensor:
    """Sum of every stage's loss on one batch: the training work of both networks (for benchmarks)."""
    losses = [stage_loss(model, stage, batch, config)[0] for stage in STAGES]
    return torch.stack(losses).sum()


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Move a batch (non-blocking from pinned memory on CUDA; channels-last images)."""
    out = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
    if device.type == "cuda":
        out["image"] = out["image"].contiguous(memory_format=torch.channels_last)
    return out


def autocast(device: torch.device) -> Any:
    """bf16 autocast on CUDA, a no-op context on the CPU."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def epoch_seed(seed: int, stage: str, epoch: int, stream: int = 0) -> int:
    """A seed that depends on (seed, stage, epoch, stream) only (exact resume)."""
    return seed * 1_000_003 + STAGES.index(stage) * 10_007 + epoch + stream * 7_919


def epoch_generator(seed: int, stage: str, epoch: int, stream: int = 0) -> torch.Generator:
    """A generator that depends on (seed, stage, epoch, stream) only (exact resume)."""
    return torch.Generator().manual_seed(epoch_seed(seed, stage, epoch, stream))


def epoch_order(n: int, seed: int, stage: str, epoch: int) -> torch.Tensor:
    """Batch order of an epoch, a function of (seed, stage, epoch) only (exact resume)."""
    return torch.randperm(n, generator=epoch_generator(seed, stage, epoch))


def augmenter(data: TrainingData) -> Callable[[Batch, torch.Generator], Batch]:
    """Random D4 transform of a batch, aspect channels turned (see :mod:`hazardcore.augment`)."""
    mean, std = data.scaling.mean.tolist(), data.scaling.std.tolist()
    return lambda batch, generator: transform_batch(batch, random_element(generator), data.channels, mean, std)


def train_epoch(model: HazardModel, stage: str, data: Batch, config: TrainConfig, epoch: int,
                optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                device: torch.device, augment: Callable[[Batch, torch.Generator], Batch] | None = None,
                ranks: Ranks | None = None, module: torch.nn.Module | None = None,
                average: WeightAverage | None = None) -> float:
    """One pass over the training data; returns the mean batch loss.

    ``average``, when given, folds the weights in after every optimiser step.

    In a distributed run (``ranks``), ``module`` is the stage's part of the model (see
    :attr:`~hazardcore.stages.Stage.module`) wrapped by ``ranks.wrap``: each rank forwards its shard of every
    global batch of ``config.batch_size`` patches and the loss is taken on the gathered
    outputs (:mod:`hazardcore.distributed`).
    """
    ranks = ranks or Ranks(0, 1, 0, device)
    module = module if module is not None else REGISTRY[stage].module(model)
    module.train()
    seed = weights_seed(config)
    order = epoch_order(len(data["image"]), seed, stage, epoch)[:config.samples_per_epoch or None]
    generator = epoch_generator(seed, stage, epoch, stream=1)  # augmentation draws
    torch.manual_seed(epoch_seed(seed, stage, epoch, stream=2))  # dropout draws: resumable at any epoch
    losses = []
    for start in range(0, len(order), config.batch_size):
        batch = {key: value[order[start:start + config.batch_size]] for key, value in data.items()}
        if augment is not None:
            batch = augment(batch, generator)
        with autocast(device):
            out = ranks.gather(stage_outputs(module, stage, ranks.shard(batch)["image"], model))
            loss, _ = REGISTRY[stage].objective(out, batch, config, model.config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if average is not None:
            average.update()
        losses.append(loss.detach())
    return float(torch.stack(losses).mean())


@torch.no_grad()
def evaluate(model: HazardModel, stage: str, data: Batch, config: TrainConfig) -> dict[str, float]:
    """Validation loss and metrics over the valid cells of the validation side."""
    model.eval()
    losses, weights, predicted = [], [], []
    device = data["image"].device
    for start in range(0, len(data["image"]), 4 * config.batch_size):
        batch = {key: value[start:start + 4 * config.batch_size] for key, value in data.items()}
        with autocast(device):
            loss, out = stage_loss(model, stage, batch, config)
        losses.append(float(loss))
        weights.append(int(batch["valid"].sum()))
        predicted.append({key: value.float().cpu() for key, value in out.items()})
    result = {"val_loss": float(np.average(losses, weights=np.maximum(weights, 1)))}
    valid = data["valid"].cpu().numpy()
    presence = data["presence"].cpu().numpy()[valid] > 0
    density = data["density"].cpu().numpy()[valid]
    for key in ("probability", "density"):
        if key in predicted[0]:
            values = torch.cat([p[key] for p in predicted]).numpy()[valid]
            result |= score(key, values, presence, density)
    return result


def score(key: str, values: np.ndarray, presence: np.ndarray, density: np.ndarray) -> dict[str, float]:
    """Susceptibility (AUC, F1) or density-given-occurrence scores on the positive cells.

    Density: MAE, Pearson R, the ratio of the mean predicted to the mean observed density
    (1 for a conditional mean) and the share of positives predicted above 0.05 %.
    """
    if key == "probability":
        both = 0 < presence.sum() < presence.size
        return {"val_auc": metrics.auc(presence, values) if both else math.nan,
                "val_f1": metrics.f1(presence, values)}
    if not presence.any():
        return {}
    observed, predicted = density[presence], values[presence]
    return {"val_mae_positive": metrics.mae(observed, predicted),
            "val_r_positive": metrics.or_nan(metrics.pearson_r, observed, predicted),
            "val_mean_ratio_positive": float(predicted.mean() / observed.mean()) if observed.mean() > 0 else math.nan,
            "val_nonzero_positive": float(np.mean(predicted > 0.05))}


@dataclass
class Run:
    """A training run folder: ``WORKDIR/runs/<run_id>`` with configs, log and checkpoints."""

    folder: Path
    model_config: ModelConfig
    train_config: TrainConfig

    @property
    def log_path(self) -> Path:
        return self.folder / LOG

    def checkpoint(self, stage: str, which: str) -> Path:
        """Path of a stage's ``last`` or ``best`` checkpoint."""
        return checkpoint_path(self.folder, stage, which)

    def log(self, record: dict[str, Any]) -> None:
        """Append one epoch's record (the dashboard reads this file)."""
        append_line(json.dumps(record), self.log_path)

    def forget_after(self, stage: str, epoch: int) -> None:
        """Drop log lines of ``stage`` from ``epoch`` on (an interrupted epoch is redone)."""
        if not self.log_path.exists():
            return
        records = whole_records(self.log_path.read_text(encoding="utf-8"))
        kept = [r for r in records if not (r["stage"] == stage and r["epoch"] >= epoch)]
        write_text("".join(json.dumps(r) + "\n" for r in kept), self.log_path)


def whole_records(text: str) -> list[dict[str, Any]]:
    """The records of a ``log.jsonl`` text; a line cut short by a crash (not valid JSON) is dropped."""
    records = []
    for line in text.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    return records


def make_checkpoint(run: Run, model: HazardModel, data: TrainingData, state: dict[str, Any]) -> Checkpoint:
    """Checkpoint of the whole model with the data contract and ``state``."""
    return Checkpoint(model_config=run.model_config.to_dict(), train_config=run.train_config.to_dict(),
                      kind="hazard", weights={k: v.detach().cpu() for k, v in model.state_dict().items()},
                      channels=list(data.channels), scaling=data.scaling.to_dict(), slices=list(data.slices),
                      state=state)


def decay(config: TrainConfig) -> Callable[[int], float]:
    """Staircase exponential decay of the learning rate per optimisation step."""
    return lambda step: config.decay_rate ** (step // config.decay_steps)


def run_stage(run: Run, model: HazardModel, stage: str, data: TrainingData, ranks: Ranks,
              resume: bool, progress: bool, callbacks: list[Callback]) -> dict[str, Any]:
    """Train one stage with early stopping; leave the best weights in ``model``.

    In a distributed run every rank trains its shards, rank 0 alone evaluates, decides and
    writes (its record is broadcast, so every rank stops at the same epoch).
    """
    config, device, current = run.train_config, ranks.device, REGISTRY[stage]
    train_data = to_device(stage_samples(data.train, stage), device)
    validation = to_device(data.validation, device)
    optimizer = torch.optim.Adam(parameter_groups(current.module(model), current.learning_rate(config)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay(config))
    state: dict[str, Any] = {"stage": stage, "epoch": 0, "best_loss": math.inf, "best_epoch": -1,
                             "bad_epochs": 0, "done": False}
    average = WeightAverage(current.module(model), config.weight_average_decay) \
        if config.weight_average_decay > 0 else None
    last = run.checkpoint(stage, "last")
    if resume and last.exists():
        state = restore(load_checkpoint(last), model, optimizer, scheduler, average)
    if resume and ranks.is_main:  # epochs logged after the last checkpoint (a kill before it was written)
        run.forget_after(stage, state["epoch"])
    module = ranks.wrap(current.module(model))
    limit = current.max_epochs(config)
    bar = tqdm(total=limit, initial=state["epoch"], desc=stage, unit="epoch", disable=not (progress and ranks.is_main))
    while not state["done"]:
        started = time.perf_counter()
        train_loss = train_epoch(model, stage, train_data, config, state["epoch"], optimizer, scheduler, device,
                                 augmenter(data) if config.augment else None, ranks, module, average)
        with averaged(average):  # scored and kept: the averaged weights
            record = ranks.broadcast({"stage": stage, "epoch": state["epoch"], "train_loss": train_loss,
                                      "lr": scheduler.get_last_lr()[0], **evaluate(model, stage, validation, config)}
                                     if ranks.is_main else None)
            seconds = time.perf_counter() - started
            patches = min(len(train_data["image"]), config.samples_per_epoch or len(train_data["image"]))
            record |= {"seconds": seconds, "patches_per_s": patches / seconds}
            improved = record["val_loss"] < state["best_loss"]
            state = advance(state, record, improved, limit, current.patience(config))
            if ranks.is_main and improved:
                save_checkpoint(make_checkpoint(run, model, data, state | {"metrics": record}),
                                run.checkpoint(stage, "best"))
        if ranks.is_main:
            run.log(record)
            save_checkpoint(make_checkpoint(run, model, data, state | optimiser_state(optimizer, scheduler, average)),
                            last)
        bar.update(1)
        bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{record['val_loss']:.4f}",
                        rate=f"{record['patches_per_s']:.0f}/s")
        for callback in callbacks:
            callback(record)
    bar.close()
    ranks.barrier()  # rank 0 has written the best checkpoint
    best = load_checkpoint(run.checkpoint(stage, "best"))
    model.load_state_dict(best.weights)
    return dict(best.state["metrics"])


def advance(state: dict[str, Any], record: dict[str, Any], improved: bool, limit: int,
            patience: int) -> dict[str, Any]:
    """Early-stopping bookkeeping after an epoch."""
    epoch = state["epoch"] + 1
    if improved:
        state = state | {"best_loss": record["val_loss"], "best_epoch": record["epoch"], "bad_epochs": 0}
    else:
        state = state | {"bad_epochs": state["bad_epochs"] + 1}
    return state | {"epoch": epoch, "done": epoch >= limit or state["bad_epochs"] >= patience}


def averaged(average: WeightAverage | None) -> Any:
    """The averaged weights swapped into the live module, or a no-op context without an average."""
    return average.swapped_in() if average is not None else contextlib.nullcontext()


def optimiser_state(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                    average: WeightAverage | None = None) -> dict[str, Any]:
    """What a resumed stage needs besides the weights."""
    out = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
    return out | ({"weight_average": average.state_dict()} if average is not None else {})


def restore(checkpoint: Checkpoint, model: HazardModel, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler, average: WeightAverage | None = None) -> dict[str, Any]:
    """Load a stage's last checkpoint (live and averaged weights); return its early-stopping state."""
    model.load_state_dict(checkpoint.weights)
    state = dict(checkpoint.state)
    optimizer.load_state_dict(state.pop("optimizer"))
    scheduler.load_state_dict(state.pop("scheduler"))
    if average is not None:
        average.load_state_dict(state.pop("weight_average"))
    state.pop("weight_average", None)
    state.pop("torch_rng", None)  # written by earlier versions; every epoch now seeds its own draws
    return state


def open_run(workdir: str | Path, model_config: ModelConfig, train_config: TrainConfig, resume: bool,
             write: bool = True) -> Run:
    """Create (or, with ``resume``, reuse) the run folder named by the configuration hash.

    ``write=False`` only names the folder (the non-zero ranks of a distributed run).
    """
    folder = run_path(workdir, config_hash(model_config, train_config))
    if not write:
        return Run(folder, model_config, train_config)
    refuse_if_busy(folder, "train")  # before a fresh start deletes another process's checkpoints
    if not resume and folder.exists():
        for path in [*(folder / CHECKPOINTS).glob("*.pt"), folder / LOG]:
            path.unlink(missing_ok=True)
        clear_outputs(folder)  # the model and everything predicted with it are about to change
    (folder / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
    for stale in (folder, folder / CHECKPOINTS):  # half-written files of a killed earlier attempt
        remove_temporaries(stale)
    configs = {"model": model_config.to_dict(), "train": train_config.to_dict()}
    write_text(json.dumps(configs, indent=2) + "\n", folder / CONFIG)
    return Run(folder, model_config, train_config)


def train(workdir: str | Path, model_config: ModelConfig, train_config: TrainConfig, stage: str = "all",
          resume: bool = False, progress: bool = False,
          callbacks: list[Callback] | None = None, distributed: bool = False) -> dict[str, dict[str, Any]]:
    """Train the stages of ``stage`` on a prepared working folder.

    Parameters
    ----------
    workdir
        Folder written by ``hazard prepare``; the run goes to ``workdir/runs/<run_id>``.
    model_config, train_config
        Configurations (their hash names the run).
    stage
        ``all``, ``susceptibility`` or ``density``.
    resume
        Continue an interrupted run: finished stages are skipped (their best weights
        loaded) and the interrupted one continues from its last epoch.
    progress
        Show a progress bar per stage.
    callbacks
        Called with each epoch's record (e.g. to stop early from outside).
    distributed
        Train data-parallel in the process group of a ``torchrun`` launch (one process per
        GPU or CPU worker; see :mod:`hazardcore.distributed`); rank 0 writes the run.

    Returns
    -------
    dict
        Best validation record per stage (on every rank).

    Raises
    ------
    ConfigError
        With ``distributed`` outside a torchrun launch, or an unknown ``stage``.
    """
    stages_to_run(stage)  # an unknown stage fails before any data is read
    group = process_group(train_config.device) if distributed else single_process(
        resolve_device(train_config.device))
    with group as ranks:
        return train_ranks(ranks, workdir, model_config, train_config, stage, resume, progress, callbacks or [])


def train_ranks(ranks: Ranks, workdir: str | Path, model_config: ModelConfig, train_config: TrainConfig,
                stage: str, resume: bool, progress: bool, callbacks: list[Callback]) -> dict[str, dict[str, Any]]:
    """:func:`train` in one process of ``ranks`` (every process builds the same model and data)."""
    device = ranks.device
    if train_config.num_threads:
        torch.set_num_threads(train_config.num_threads)
    torch.manual_seed(weights_seed(train_config))
    model = build_model(model_config, "hazard")
    assert isinstance(model, HazardModel)
    model.to(device)
    if ranks.parallel:
        synchronise_batch_norm(model, device)  # statistics of the global batch, not of each shard
    data = load_training_data(workdir, model_config, train_config, progress and ranks.is_main)
    run = open_run(workdir, model_config, train_config, resume, write=ranks.is_main)
    ranks.barrier()  # the run folder exists, stale checkpoints are gone
    with recording(run.folder, "train", enabled=ranks.is_main):
        results = train_stages(run, model, data, ranks, stage, resume, progress, callbacks)
    ranks.barrier()
    return results


def train_stages(run: Run, model: HazardModel, data: TrainingData, ranks: Ranks, stage: str, resume: bool,
                 progress: bool, callbacks: list[Callback]) -> dict[str, dict[str, Any]]:
    """Train (or, resuming, skip) each stage in order; rank 0 writes ``model.pt`` last."""
    results = {}
    for name in STAGES:
        best = run.checkpoint(name, "best")
        if name not in stages_to_run(stage):
            if best.exists():  # later stages start from earlier stages' best weights
                model.load_state_dict(load_checkpoint(best).weights)
            continue
        done = resume and run.checkpoint(name, "last").exists() and load_checkpoint(
            run.checkpoint(name, "last")).state.get("done", False)
        if done:
            checkpoint = load_checkpoint(best)
            model.load_state_dict(checkpoint.weights)
            results[name] = dict(checkpoint.state["metrics"])
            continue
        results[name] = run_stage(run, model, name, data, ranks, resume, progress, callbacks)
    for record in results.values():
        record |= data.oracle
    if ranks.is_main:
        final = make_checkpoint(run, model, data, {"results": results, "split": data.split.to_dict()})
        save_checkpoint(final, run.folder / MODEL)
    return results
