"""A small ResNet assembled from torchvision's ResNet building blocks.

torchvision's ``resnet18`` has fixed widths (64..512, 11.7 M parameters): too heavy to train
from scratch on two CPU cores and to ship in the repository. This module stacks
``torchvision.models.resnet.BasicBlock`` with configurable widths and keeps torchvision's
stage names (``conv1/bn1/maxpool``, ``layer1..layer4``, ``fc``) so that compressed-domain
adapters can replace the stem + early stages exactly as they would on a torchvision ResNet.

    x ─stem(÷4)─► layer1(÷4) ─► layer2(÷8) ─► layer3(÷16) ─► layer4(÷32) ─► pool ─► fc
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

# ImageNet-style normalisation is replaced by the synthetic set's rough statistics;
# the value only has to be the same at training and inference.
PIXEL_MEAN = (0.45, 0.45, 0.45)
PIXEL_STD = (0.25, 0.25, 0.25)


def _stage(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
    down = None
    if stride != 1 or cin != cout:
        down = nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))
    layers = [BasicBlock(cin, cout, stride, down)]
    layers += [BasicBlock(cout, cout) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class SmallResNet(nn.Module):
    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, int, int, int] = (24, 48, 96, 192),
        blocks: tuple[int, int, int, int] = (1, 1, 1, 1),
    ):
        super().__init__()
        self.widths = tuple(widths)
        self.classes: list[str] = []  # class names, set when loaded from a teacher file
        w = widths
        self.conv1 = nn.Conv2d(3, w[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = _stage(w[0], w[0], blocks[0], 1)
        self.layer2 = _stage(w[0], w[1], blocks[1], 2)
        self.layer3 = _stage(w[1], w[2], blocks[2], 2)
        self.layer4 = _stage(w[2], w[3], blocks[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w[3], num_classes)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(PIXEL_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(PIXEL_STD).view(1, 3, 1, 1))

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of layer1..layer4 for an image batch in [0, 1]."""
        f1 = self.layer1(self.stem(x))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        return [f1, f2, f3, self.layer4(f3)]

    def head(self, f4: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(f4), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[-1])
