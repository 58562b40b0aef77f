"""The two networks of METHOD.md §5 and the combined hazard model, built from a registry.

Every network takes a tensor batch ``image`` (B, C, P, P) float32 with C =
``ModelConfig.in_channels`` (16) and P = ``patch_cells × cell_px`` (128 by default, 64 in
the demo), already scaled by the training loop, and returns one value per 1 km cell
(B, patch_cells, patch_cells).

The susceptibility net is a segmentation-models-pytorch model (``smp.create_model``): a
well-kept library gives the U-Net and its variants, any timm/torchvision encoder, and
``encoder_weights=None`` (no download) from configuration alone, so that switching
architecture or encoder is a config change, not a code change.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Sequence

import segmentation_models_pytorch as smp
import torch
from torch import nn
from torch.nn import functional

from hazardcore import density_heads
from hazardcore.config import ModelConfig
from hazardcore.errors import CheckpointError, ConfigError, describe
from hazardcore.predictors import CHANNELS
from hazardcore.trigger_response import COVARIATE_INDEX, SPATIAL_TERMS, STATIC_INDEX, TriggerResponse, cell_means


def patch_px(config: ModelConfig) -> int:
    """Pixels along a patch edge seen by the networks (``patch_cells × cell_px``)."""
    return int(config.patch_cells * config.cell_px)


def check_input(model_config: ModelConfig, channels: Sequence[str], image_shape: Sequence[int]) -> None:
    """Check that prepared data matches a model's configuration before it is used.

    Parameters
    ----------
    model_config
        The configuration the model was built (or its checkpoint saved) with.
    channels
        Names of the predictor channels of the data, in image order.
    image_shape
        Shape of one image (C, P, P) or of a batch (B, C, P, P).

    Raises
    ------
    CheckpointError
        Saying the expected and found channel count or patch size and how to fix it.
    """
    if len(channels) != model_config.in_channels:
        raise CheckpointError(describe(
            "the data's predictor channels do not match the model",
            expected=f"{model_config.in_channels} channels",
            found=f"{len(channels)} channels {list(channels)}",
            fix="re-run `hazard prepare` with this version, or use the config the data was prepared for"))
    check_image_shape(model_config, image_shape)


def check_image_shape(model_config: ModelConfig, image_shape: Sequence[int]) -> None:
    """Check the channel count and patch size of an image (C, P, P) or batch (B, C, P, P).

    Raises
    ------
    CheckpointError
        When the shape is not (…, in_channels, P, P) with P = ``patch_cells × cell_px``.
    """
    size = patch_px(model_config)
    expected = (model_config.in_channels, size, size)
    found = tuple(int(n) for n in image_shape[-3:])
    if len(image_shape) not in (3, 4) or found != expected:
        raise CheckpointError(describe(
            "image shape does not match the model configuration",
            expected=f"(batch,) channels × patch px × patch px = {expected} "
                     f"(patch_cells={model_config.patch_cells}, cell_px={model_config.cell_px})",
            found=tuple(int(n) for n in image_shape),
            fix="use the model config matching the prepared data (patch_cells, cell_px, in_channels), "
                "or re-run `hazard prepare`"))


def _smp_kwargs(config: ModelConfig, in_channels: int | None = None, classes: int = 1) -> dict[str, object]:
    """Keyword arguments of ``smp.create_model`` for the configured architecture.

    ``decoder_channels`` (one width per encoder stage) is passed only to architectures
    whose class takes a sequence of widths (Unet, UnetPlusPlus, MAnet); the others (FPN,
    Linknet, PAN, DeepLabV3Plus, UPerNet) keep their own decoder defaults.
    """
    kwargs: dict[str, object] = {"encoder_name": config.encoder_name, "encoder_depth": config.encoder_depth,
                                 "encoder_weights": None, "in_channels": in_channels or config.in_channels,
                                 "classes": classes}
    parameter = inspect.signature(getattr(smp, config.architecture)).parameters.get("decoder_channels")
    if parameter is not None and "Sequence" in str(parameter.annotation):
        widths = list(config.decoder_channels)[: config.encoder_depth]
        if len(widths) != config.encoder_depth:
            raise ConfigError(describe(
                "decoder_channels needs one width per encoder stage",
                expected=f"{config.encoder_depth} widths",
                found=list(config.decoder_channels), fix="give as many decoder_channels as encoder_depth"))
        kwargs["decoder_channels"] = widths
    return kwargs


def _check_divisible(config: ModelConfig) -> None:
    """Refuse a patch size the encoder cannot halve ``encoder_depth`` times."""
    factor = 2 ** config.encoder_depth
    if patch_px(config) % factor:
        raise ConfigError(describe(
            "patch size is not divisible by 2 ** encoder_depth",
            expected=f"patch_cells × cell_px divisible by {factor}",
            found=f"{config.patch_cells} × {config.cell_px} = {patch_px(config)}",
            fix="change cell_px, patch_cells or encoder_depth"))


class SusceptibilityNet(nn.Module):
    """Segmentation network (U-Net, ResNet-18 by default) reduced to one logit per cell.

    Parameters
    ----------
    config
        Architecture, encoder, decoder widths, channels and patch geometry.

    Raises
    ------
    ConfigError
        When decoder_channels is shorter than encoder_depth or the patch size is not
        divisible by 2 ** encoder_depth.

    Notes
    -----
    The per-pixel logits (B, 1, P, P) are averaged over each cell's ``cell_px × cell_px``
    block. The mean is taken of logits, not of probabilities: the segmentation head is a
    linear convolution, so the mean logit is a linear read-out of the cell's mean decoder
    features, i.e. a proper per-cell classifier whose output stays an unbounded score.
    ``sigmoid`` of it is the cell probability and the BCE-with-logits loss stays
    numerically stable; a mean of pixel probabilities would saturate (vanishing gradients
    for confident pixels) and would have to be mapped back through ``logit`` for the loss.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        _check_divisible(config)
        self.config = config
        self.net = smp.create_model(config.architecture, **_smp_kwargs(config))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Per-cell logits (B, patch_cells, patch_cells) of a batch (B, C, P, P)."""
        check_image_shape(self.config, image.shape)
        pixel_logits = self.net(image)
        cell_px = int(self.config.cell_px)
        return functional.avg_pool2d(pixel_logits, kernel_size=cell_px, stride=cell_px).squeeze(1)


class StructuredSusceptibilityNet(nn.Module):
    """Occurrence as a Poisson rate with a monotone response to the period's triggers.

    A segmentation network on the static channels (terrain, PGA) gives three per-cell terms
    (propensity to co-seismic and to rain-triggered failure, and the earthquake's legacy);
    :class:`hazardcore.trigger_response.TriggerResponse` combines them with monotone, bounded
    functions of the cell's rain, monsoon count, earthquake indicator and slice length into
    the logit of P(≥ 1 new landslide). Same input and output as :class:`SusceptibilityNet`.

    Raises
    ------
    ConfigError
        When ``in_channels`` is not the full channel set (the trigger channels are found by
        their place in ``hazardcore.predictors.CHANNELS``).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        _check_divisible(config)
        if config.in_channels != len(CHANNELS):
            raise ConfigError(describe("the structured trigger response needs every predictor channel",
                                       expected=f"in_channels = {len(CHANNELS)}", found=config.in_channels,
                                       fix="set trigger_response=network, or in_channels to the channel count"))
        self.config = config
        self.net = smp.create_model(config.architecture, **_smp_kwargs(config, len(STATIC_INDEX),
                                                                        len(SPATIAL_TERMS)))
        self.response = TriggerResponse()
        self.static_index: torch.Tensor
        self.covariate_index: torch.Tensor
        self.register_buffer("static_index", torch.tensor(STATIC_INDEX), persistent=False)
        self.register_buffer("covariate_index", torch.tensor(COVARIATE_INDEX), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Per-cell logits (B, patch_cells, patch_cells) of a batch (B, C, P, P)."""
        check_image_shape(self.config, image.shape)
        cell_px = int(self.config.cell_px)
        spatial = cell_means(self.net(image.index_select(1, self.static_index)), cell_px)
        covariates = cell_means(image.index_select(1, self.covariate_index), cell_px)
        return self.response(spatial.float(), covariates.float())


def patch_to_cells(image: torch.Tensor, cell_px: int) -> torch.Tensor:
    """Reshape a batch (B, C, n·c, n·c) into its cell images (B·n·n, C, c, c), row-major.

    Cell (i, j) of patch b is row ``b·n·n + i·n + j``, so that ``reshape(B, n, n)`` of
    the per-cell outputs restores the patch layout.
    """
    batch, channels, height, _ = image.shape
    n = height // cell_px
    blocks = image.reshape(batch, channels, n, cell_px, n, cell_px)
    return blocks.permute(0, 2, 4, 1, 3, 5).reshape(batch * n * n, channels, cell_px, cell_px)


def _dense_block(width_in: int, width_out: int, dropout: float) -> nn.Sequential:
    """Linear → BatchNorm1d → ReLU → Dropout."""
    return nn.Sequential(nn.Linear(width_in, width_out), nn.BatchNorm1d(width_out), nn.ReLU(inplace=True),
                         nn.Dropout(dropout))


class DensityNet(nn.Module):
    """Per-cell distribution of the landslide area density given occurrence (METHOD.md §5).

    Each cell image (C, cell_px, cell_px) passes one convolution block (3×3 conv,
    BatchNorm2d, ReLU, 2×2 max-pool), is flattened, passes the dense blocks (Linear,
    BatchNorm1d, ReLU, Dropout; widths ``density_hidden``, six by default) and a final
    Linear giving the raw parameters of the configured ``density_head``
    (:mod:`hazardcore.density_heads`): no ReLU, whose zero gradient below 0 left cells
    stuck at a density of 0; the heads' links (exp, softplus) keep every parameter valid.

    Parameters
    ----------
    config
        ``in_channels``, ``cell_px``, ``density_conv_channels``, ``density_hidden``,
        ``density_dropout``.

    Raises
    ------
    ConfigError
        When ``density_hidden`` is empty.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not config.density_hidden:
            raise ConfigError(describe("density_hidden is empty", expected="at least one dense width",
                                       found=config.density_hidden, fix="e.g. [512, 256, 128, 64, 32, 16]"))
        self.config = config
        width = int(config.density_conv_channels)
        self.conv = nn.Sequential(nn.Conv2d(config.in_channels, width, kernel_size=3, padding=1),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Flatten())
        widths = [width * (config.cell_px // 2) ** 2, *config.density_hidden]
        blocks = [_dense_block(a, b, config.density_dropout) for a, b in itertools.pairwise(widths)]
        self.dense = nn.Sequential(*blocks)
        density_heads.check_head(config.density_head)
        self.head = nn.Linear(widths[-1], density_heads.N_PARAMETERS[config.density_head])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Raw head parameters (B, patch_cells, patch_cells, n_parameters) of a batch (B, C, P, P)."""
        check_image_shape(self.config, image.shape)
        cell_px = int(self.config.cell_px)
        values = self.head(self.dense(self.conv(patch_to_cells(image, cell_px))))
        n = image.shape[-1] // cell_px
        return values.reshape(image.shape[0], n, n, values.shape[-1])  # explicit: a rank's shard may be empty

    def offset(self, logit: torch.Tensor) -> torch.Tensor | None:
        """Log offset of the distribution from the susceptibility logits (``None`` without ``density_offset``)."""
        return density_heads.occurrence_offset(logit.detach()) if self.config.density_offset else None

    def mean(self, raw: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
        """E[density | occurrence] (%, (B, n, n)) of raw head outputs and the cells' susceptibility logits."""
        return density_heads.expected_density(self.config.density_head, raw, self.offset(logit))

    def exceedance(self, raw: torch.Tensor, logit: torch.Tensor, thresholds: Sequence[float]) -> torch.Tensor:
        """P(density > x | occurrence) (B, n, n, len(thresholds)) for each threshold x (% of the cell)."""
        head = self.config.density_head
        params = density_heads.parameters(head, raw, self.offset(logit))
        return torch.stack([density_heads.survival(head, params, float(x)) for x in thresholds], dim=-1)


def susceptibility_net(config: ModelConfig) -> nn.Module:
    """The susceptibility network ``config.trigger_response`` asks for."""
    return StructuredSusceptibilityNet(config) if config.trigger_response == "structured" else SusceptibilityNet(config)


class HazardModel(nn.Module):
    """Susceptibility and density nets side by side; hazard = probability × density.

    Parameters
    ----------
    config
        Configuration of both networks.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.susceptibility = susceptibility_net(config)
        self.density = DensityNet(config)

    def forward(self, image: torch.Tensor, thresholds: Sequence[float] = ()) -> dict[str, torch.Tensor]:
        """Outputs of a batch (B, C, P, P), each (B, patch_cells, patch_cells).

        Returns
        -------
        dict of str to Tensor
            ``logit``, ``probability`` (sigmoid of logit, uncalibrated), ``density``
            (E[density | occurrence], % of the cell) and ``hazard`` (probability × density);
            with ``thresholds`` (% of the cell) also ``exceedance`` (B, n, n, T):
            P(density > x | occurrence) for each.
        """
        logit = self.susceptibility(image)
        probability = torch.sigmoid(logit)
        raw = self.density(image)
        out = {"logit": logit, "probability": probability, "density": self.density.mean(raw, logit)}
        out["hazard"] = probability * out["density"]
        if thresholds:
            out["exceedance"] = self.density.exceedance(raw, logit, thresholds)
        return out


MODEL_KINDS: dict[str, Callable[[ModelConfig], nn.Module]] = {
    "susceptibility": susceptibility_net, "density": DensityNet, "hazard": HazardModel}


RESPONSE_LEARNING_RATE_FACTOR = 20.0


def parameter_groups(module: nn.Module, learning_rate: float) -> list[dict[str, object]]:
    """Optimiser groups: the trigger response's scalars learn ``RESPONSE_LEARNING_RATE_FACTOR`` × faster.

    Adam moves each parameter by about the learning rate per step whatever its gradient, so the
    response's curves (a handful of scalars, whose co-seismic contrast must reach several log
    units) would need thousands of steps at the networks' rate; the convolution weights reach
    the same change in the logit through many parameters at once.
    """
    response = [p for name, p in module.named_parameters() if ".response." in f".{name}"]
    known = {id(p) for p in response}
    groups: list[dict[str, object]] = [{"params": [p for p in module.parameters() if id(p) not in known],
                                        "lr": learning_rate}]
    if response:
        groups.append({"params": response, "lr": learning_rate * RESPONSE_LEARNING_RATE_FACTOR})
    return groups


def build_model(config: ModelConfig, kind: str = "hazard") -> nn.Module:
    """Build a network from the registry.

    Parameters
    ----------
    config
        The model configuration.
    kind
        A key of :data:`MODEL_KINDS`: ``"susceptibility"``, ``"density"`` or ``"hazard"``.

    Returns
    -------
    torch.nn.Module
        The untrained network (random weights; no pretrained weights are ever downloaded).

    Raises
    ------
    ConfigError
        For an unknown kind, or a configuration the network cannot be built from.
    """
    if kind not in MODEL_KINDS:
        raise ConfigError(describe(f"unknown model kind {kind!r}", expected=sorted(MODEL_KINDS), found=kind))
    _check_encoder(config)
    return MODEL_KINDS[kind](config)


def _check_encoder(config: ModelConfig) -> None:
    """Refuse an encoder segmentation-models-pytorch does not know (its own error is a bare KeyError)."""
    names = smp.encoders.get_encoder_names()
    if not config.encoder_name.startswith("tu-") and config.encoder_name not in names:
        raise ConfigError(describe(f"unknown encoder {config.encoder_name!r}", found=config.encoder_name,
                                   expected=f"one of the {len(names)} smp encoders (e.g. resnet18, resnet34, "
                                            "efficientnet-b0) or a timm encoder as tu-NAME",
                                   fix="set ModelConfig.encoder_name (hazard train --set encoder_name=resnet34)"))
