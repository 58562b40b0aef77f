"""Data-parallel training across processes (PyTorch DistributedDataParallel, launched by torchrun).

Launch: ``torchrun --nproc_per_node N -m hazardcore.cli train WORKDIR --distributed`` on one
machine (one process per GPU, or N CPU processes), or with ``--nnodes``/``--rdzv-endpoint`` on
several; every rank reads the same ``WORKDIR`` (a shared filesystem across nodes).

What a distributed run computes is the single-process run's training, step for step:

- ``batch_size`` stays the *global* batch. Each epoch's permutation is the single-process one
  (a function of seed, stage and epoch only, so resume stays exact); every global batch is
  split into ``world_size`` contiguous shards and each rank forwards only its own.
- The network outputs of all shards are gathered (an autograd-aware all-gather), and every rank
  evaluates the loss on the whole global batch. DDP's gradient average of these per-rank
  backward passes is then the gradient of the global-batch loss, for every loss of
  :mod:`hazardcore.losses`, including the batch-level focal Tversky ratio and the masked means
  (per-rank losses averaged by DDP would weight shards equally instead).
- Batch normalisation uses the statistics of the global batch: ``torch.nn.SyncBatchNorm`` on
  CUDA, :class:`AllReduceBatchNorm` on the CPU (torch's SyncBatchNorm refuses CPU tensors). Per-
  rank statistics would make the result depend on the number of processes.
- Augmentation draws one transform per global batch from the epoch's generator, so all ranks
  apply the single-process transform. Dropout masks are drawn per rank, so with dropout > 0 a
  distributed run equals the single-process one in distribution, not bit for bit.
- Rank 0 evaluates the validation side (the other ranks wait) and broadcasts its record, so the
  early-stopping decisions are identical everywhere; rank 0 alone writes checkpoints and the log.

Backend ``nccl`` on CUDA (device ``cuda:LOCAL_RANK``), ``gloo`` on the CPU.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from hazardcore.errors import ConfigError, describe

Batch = dict[str, torch.Tensor]
LAUNCH = "torchrun --nproc_per_node 2 -m hazardcore.cli train WORKDIR --config demo --distributed"
TIMEOUT = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among the training processes (one process: rank 0 of 1).

    Parameters
    ----------
    rank
        Global rank (0 writes checkpoints and logs).
    world_size
        Number of processes.
    local_rank
        Rank on this machine (selects ``cuda:LOCAL_RANK``).
    device
        This process's device.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on the one process that writes files and shows progress."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    def shard(self, batch: Batch) -> Batch:
        """This rank's contiguous share of a global batch (sizes differ by at most one)."""
        if not self.parallel:
            return batch
        return {key: torch.tensor_split(value, self.world_size)[self.rank] for key, value in batch.items()}

    def gather(self, outputs: Batch) -> Batch:
        """Concatenate every rank's outputs in rank order, keeping the autograd graph.

        The backward of the gather sums the gradients that all ranks send to this rank's
        outputs; since every rank computes the same global loss, DDP's average of the
        parameter gradients is then exactly the global-batch gradient.
        """
        if not self.parallel:
            return outputs
        return {key: gather_rows(value, self.world_size) for key, value in outputs.items()}

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object) on every rank."""
        if not self.parallel:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait until every rank arrives (e.g. until rank 0 has written a checkpoint)."""
        if self.parallel:
            dist.barrier()

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` under DistributedDataParallel (gradients averaged); itself in one process."""
        if not self.parallel:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        # find_unused_parameters: smp encoders keep the stages beyond encoder_depth, which get no gradient
        return DistributedDataParallel(module, device_ids=ids, forward_sync_buffers=False,
                                       find_unused_parameters=True)


def world() -> list[int]:
    """Every rank of the default process group (the group argument of functional collectives)."""
    return list(range(dist.get_world_size()))


def gather_rows(value: torch.Tensor, world_size: int) -> torch.Tensor:
    """All-gather tensors whose first dimension may differ by rank (padded, then trimmed)."""
    sizes = [torch.zeros(1, dtype=torch.int64, device=value.device) for _ in range(world_size)]
    dist.all_gather(sizes, torch.tensor([len(value)], dtype=torch.int64, device=value.device))
    counts = [int(size) for size in sizes]
    padded = nn.functional.pad(value, (0, 0) * (value.dim() - 1) + (0, max(counts) - len(value)))
    parts = funcol.all_gather_single(padded.contiguous(), 0, world()).split(max(counts))
    return torch.cat([part[:count] for part, count in zip(parts, counts, strict=True)])


def all_reduce_sum(value: torch.Tensor) -> torch.Tensor:
    """Sum over ranks, differentiable (the gradient is summed over ranks as well)."""
    return funcol.all_reduce(value.contiguous(), "sum", world())


class AllReduceBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch normalisation over the global batch of all ranks, on any device (CPU included).

    In training the per-channel mean and variance are reduced over every rank's samples (two
    autograd-aware all-reduces, two-pass variance), so the output, its gradient and the running
    statistics equal those of one process holding the whole batch; in evaluation it is plain
    batch normalisation with the running statistics. Parameter and buffer names are those of
    ``torch.nn.BatchNorm*d``, so checkpoints load into the plain model.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or not dist.is_initialized():
            return super().forward(input)
        dims = [0, *range(2, input.dim())]
        shape = [1, -1] + [1] * (input.dim() - 2)
        count = torch.tensor([input.numel() // max(input.shape[1], 1)], dtype=torch.float64,
                             device=input.device)
        dist.all_reduce(count)
        n = float(count)
        mean = all_reduce_sum(input.sum(dims)) / n
        centred = input - mean.view(shape)
        variance = all_reduce_sum((centred * centred).sum(dims)) / n
        self._update_running(mean.detach(), variance.detach(), n)
        out = centred * torch.rsqrt(variance + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out

    def _update_running(self, mean: torch.Tensor, variance: torch.Tensor, n: float) -> None:
        """Running statistics as torch's batch norm updates them (unbiased variance)."""
        if not self.track_running_stats or self.running_mean is None or self.running_var is None:
            return
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = variance * (n / max(n - 1.0, 1.0))
        self.running_mean.mul_(1 - momentum).add_(momentum * mean)
        self.running_var.mul_(1 - momentum).add_(momentum * unbiased)


def synchronise_batch_norm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every batch-norm layer by one that normalises over the global batch.

    ``torch.nn.SyncBatchNorm`` on CUDA; :class:`AllReduceBatchNorm` elsewhere. Weights,
    biases and running statistics are carried over.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, AllReduceBatchNorm):
            replacement = AllReduceBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                             child.track_running_stats, device=device)
            replacement.load_state_dict(child.state_dict())
            replacement.train(child.training)
            setattr(module, name, replacement)
        else:
            synchronise_batch_norm(child, device)
    return module


def launched_by_torchrun() -> bool:
    """True when the torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR) is set."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR"))


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a torchrun launch (for printing once)."""
    return os.environ.get("RANK", "0") == "0"


def process_device(device_name: str, local_rank: int) -> torch.device:
    """This process's device: ``cuda:LOCAL_RANK`` when CUDA is chosen (or ``auto`` finds it), else CPU."""
    use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if not use_cuda:
        return torch.device("cpu")
    if local_rank >= torch.cuda.device_count():
        raise ConfigError(describe("more processes on this machine than CUDA devices",
                                   expected=f"--nproc_per_node <= {torch.cuda.device_count()}",
                                   found=f"LOCAL_RANK {local_rank}"))
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


@contextlib.contextmanager
def process_group(device_name: str) -> Iterator[Ranks]:
    """Join the torchrun process group for a training run, and leave it afterwards.

    Parameters
    ----------
    device_name
        ``auto``, ``cpu`` or ``cuda`` (TrainConfig.device); CUDA is only used when available
        for ``auto``, and raises in :func:`process_device` when missing for ``cuda``.

    Yields
    ------
    Ranks
        This process's rank, world size and device (backend nccl on CUDA, gloo on the CPU).

    Raises
    ------
    ConfigError
        If the process was not started by torchrun.
    """
    if not launched_by_torchrun():
        raise ConfigError(describe("--distributed needs the process group that torchrun sets up",
                                   found="no RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR in the environment",
                                   fix=f"launch with `{LAUNCH}`"))
    local_rank = int(os.environ["LOCAL_RANK"])
    if device_name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(describe("device cuda requested but no CUDA device is available",
                                   fix="use --device auto or cpu"))
    device = process_device(device_name, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=TIMEOUT, device_id=device if device.type == "cuda" else None)
    try:
        yield Ranks(dist.get_rank(), dist.get_world_size(), local_rank, device)
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def single_process(device: torch.device) -> Iterator[Ranks]:
    """The one-process stand-in for :func:`process_group` (rank 0 of 1)."""
    yield Ranks(0, 1, 0, device)
