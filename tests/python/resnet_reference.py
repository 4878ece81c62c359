#!/usr/bin/env python3
"""Reference ResNets for tests/vision/test_resnet.cpp, made with Debian's python3-torch.

    resnet_reference.py OUTDIR

Debian 12 packages torch 1.13 but not torchvision, so the two models are built here from torch.nn
with torchvision's module tree and names (conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0,
fc; the bottleneck's stride on conv2, as torchvision's resnet.py). Weights are random (seeded),
BatchNorm running statistics and num_batches_tracked too, so that eval-mode BatchNorm is tested.
Writes, in OUTDIR:
  resnet18.pth   {'state_dict': {'module.<name>': tensor}}  (nested and DataParallel-prefixed, as
                 training scripts save them: the converter must undo both)
  resnet50.pth   a plain state dict
  io.pt          {'input': [2, 3, 72, 88], 'resnet18': logits [2, 10], 'resnet50': logits [2, 7],
                  'resnet50_features': pooled [2, 2048]} from the models in eval mode
"""
import os
import sys

import torch
from torch import nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def randomise(model):
    # Non-trivial BatchNorm in eval mode: affine parameters and running statistics away from 1 / 0.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, ())))
    return model.eval()


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    r18 = randomise(ResNet(BasicBlock, [2, 2, 2, 2], 10))
    r50 = randomise(ResNet(Bottleneck, [3, 4, 6, 3], 7))
    x = torch.randn(2, 3, 72, 88)
    with torch.no_grad():
        io = {"input": x, "resnet18": r18(x), "resnet50": r50(x), "resnet50_features": r50.features(x)}
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in r18.state_dict().items()}},
               os.path.join(out, "resnet18.pth"))
    torch.save(r50.state_dict(), os.path.join(out, "resnet50.pth"))
    torch.save(io, os.path.join(out, "io.pt"))
    print(f"{out}: resnet18.pth ({len(r18.state_dict())} tensors), resnet50.pth ({len(r50.state_dict())} tensors), io.pt")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
