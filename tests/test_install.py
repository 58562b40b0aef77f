"""The environment trap of ARCHITECTURE.md: torch and torchvision must be a matched pair."""


def test_segmentation_models_pytorch_imports() -> None:
    import segmentation_models_pytorch as smp
    import torch
    import torchvision

    model = smp.Unet("resnet18", encoder_weights=None, in_channels=13, classes=1)
    out = model(torch.zeros(1, 13, 64, 64))
    assert out.shape == (1, 1, 64, 64)
    # a CPU torch with the registry's torchvision fails here ("torchvision::nms does not exist")
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.1, 0.1, 2.0, 2.0]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    assert keep.tolist() == [0]
