"""Losses against hand computations on tiny (1, 2, 2) batches; the invalid cell is extreme."""

import math

import pytest
import torch

from hazardcore.config import TrainConfig
from hazardcore.losses import bce_loss, focal_tversky_loss, masked_mae, susceptibility_loss

VALID = torch.tensor([[[True, True], [True, False]]])


def cells(a: float, b: float, c: float, invalid: float, grad: bool = False) -> torch.Tensor:
    """A (1, 2, 2) batch holding three valid cells and the invalid one last."""
    return torch.tensor([[[a, b], [c, invalid]]], requires_grad=grad)


def test_focal_tversky_by_hand() -> None:
    # valid p = [0.9, 0.2, 0.6], g = [1, 0, 1]; the invalid cell (p = 0, g = 1) would be a full miss.
    p, g = cells(0.9, 0.2, 0.6, 0.0, grad=True), cells(1, 0, 1, 1)
    # TP = 0.9 + 0.6 = 1.5, FP = 0.2, FN = 0.1 + 0.4 = 0.5
    # TI = 1.5 / (1.5 + 0.3·0.2 + 0.7·0.5) = 1.5 / 1.91 ; FTL = 0.41 / 1.91 = 0.21466
    loss = focal_tversky_loss(p, g, VALID)
    assert loss.item() == pytest.approx(0.41 / 1.91, rel=1e-5)
    loss.backward()
    assert p.grad is not None and p.grad[0, 1, 1] == 0 and (p.grad[0, 0, 0] != 0)


def test_focal_tversky_gamma_and_weights() -> None:
    p, g = cells(0.9, 0.2, 0.6, 0.0), cells(1, 0, 1, 1)
    # γ = 2 → (0.41 / 1.91) ** 0.5 = 0.46331
    gamma_two = focal_tversky_loss(p, g, VALID, gamma=2.0)
    assert gamma_two.item() == pytest.approx(math.sqrt(0.41 / 1.91), rel=1e-5)
    # α = β = 0.5 is the Dice loss: 1 − 2·1.5 / (2·1.5 + 0.2 + 0.5) = 0.7 / 3.7
    assert focal_tversky_loss(p, g, VALID, alpha=0.5, beta=0.5).item() == pytest.approx(0.7 / 3.7, rel=1e-5)


def test_focal_tversky_perfect_prediction_has_finite_gradient() -> None:
    p, g = cells(1.0, 0.0, 1.0, 0.3, grad=True), cells(1, 0, 1, 0)
    loss = focal_tversky_loss(p, g, VALID, gamma=3.0)
    loss.backward()
    assert loss.item() == 0.0
    assert p.grad is not None and torch.isfinite(p.grad).all()


def test_bce_by_hand() -> None:
    # valid logits [2, −1, 0.5] with g = [1, 0, 1]; the invalid cell (z = 50, g = 0) would cost 50.
    z, g = cells(2.0, -1.0, 0.5, 50.0, grad=True), cells(1, 0, 1, 0)
    # log(1 + e^−2) = 0.126928, log(1 + e^−1) = 0.313262, log(1 + e^−0.5) = 0.474077
    expected = (0.126928 + 0.313262 + 0.474077) / 3
    loss = bce_loss(z, g, VALID)
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    loss.backward()
    # d/dz = (σ(z) − g) / 3 : (0.880797 − 1) / 3 for the first cell, 0 for the invalid one
    assert z.grad is not None and z.grad[0, 0, 0].item() == pytest.approx((0.880797 - 1) / 3, abs=1e-5)
    assert z.grad[0, 1, 1] == 0


def test_masked_mae_by_hand() -> None:
    predicted, target = cells(1.0, 3.0, 0.0, 1e6, grad=True), cells(2.0, 0.5, 0.0, 0.0)
    assert masked_mae(predicted, target, VALID).item() == pytest.approx((1 + 2.5 + 0) / 3)
    positives = masked_mae(predicted, target, VALID, mask=target > 0)
    assert positives.item() == pytest.approx((1 + 2.5) / 2)
    positives.backward()
    assert predicted.grad is not None
    assert predicted.grad.tolist() == [[[-0.5, 0.5], [0.0, 0.0]]]


@pytest.mark.parametrize("name", ["focal_tversky", "bce", "mae"])
def test_all_invalid_batch_gives_zero_not_nan(name: str) -> None:
    x = torch.tensor([[[0.3, float("inf")], [-2.0, 7.0]]], requires_grad=True)
    target = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    none = torch.zeros(1, 2, 2, dtype=torch.bool)
    loss = {"focal_tversky": lambda: focal_tversky_loss(x, target, none, gamma=2.0),
            "bce": lambda: bce_loss(x, target, none),
            "mae": lambda: masked_mae(x, target, none)}[name]()
    loss.backward()
    assert loss.item() == 0.0
    assert x.grad is not None and (x.grad == 0).all()


def test_susceptibility_loss_dispatch() -> None:
    z, g = cells(2.0, -1.0, 0.5, 50.0), cells(1, 0, 1, 0)
    config = TrainConfig(tversky_alpha=0.4, tversky_beta=0.6, tversky_gamma=1.5)
    expected = focal_tversky_loss(torch.sigmoid(z), g, VALID, alpha=0.4, beta=0.6, gamma=1.5)
    assert susceptibility_loss(z, g, VALID, config).item() == pytest.approx(expected.item())
    config.loss = "bce"
    assert susceptibility_loss(z, g, VALID, config).item() == pytest.approx(bce_loss(z, g, VALID).item())


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        masked_mae(torch.zeros(1, 4, 4), torch.zeros(1, 2, 2), VALID)
