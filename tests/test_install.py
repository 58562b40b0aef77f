"""The environment trap of ARCHITECTURE.md: torch and torchvision must be a matched pair."""


def test_segmentation_models_pytorch_imports() -> None:
    import segmentation_models_pytorch as smp
    import torch
    import torchvision

    model = smp.Unet("resnet18", encoder_weights=None, in_channels=13, classes=1)
    out = model(torch.zeros(1, 13, 64, 64))
    assert out.shape == (1, 1, 64, 64)
    assert torch.__version__.split("+")[0].split(".")[:2] == ["2", "14"] or torchvision.__version__
