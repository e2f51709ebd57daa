"""MobileNet V1 (Howard et al. 2017): a stem convolution, then depthwise-separable blocks
(3x3 depthwise conv + BN + ReLU, 1x1 pointwise conv + BN + ReLU), global pooling, a classifier."""

from __future__ import annotations

import torch.nn as nn

# (output channels, stride) of each depthwise-separable block
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def conv_bn(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DepthwiseSeparable(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.dw_bn = nn.BatchNorm2d(cin)
        self.pw = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
        self.pw_bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.relu(self.dw_bn(self.dw(x)))
        return self.relu(self.pw_bn(self.pw(x)))


class MobileNetV1(nn.Module):
    def __init__(self, num_classes=1000, width_mult=1.0, blocks=None):
        super().__init__()
        blocks = BLOCKS if blocks is None else blocks
        c = max(8, int(32 * width_mult))
        layers = [conv_bn(3, c, 2)]
        for cout, stride in blocks:
            cout = max(8, int(cout * width_mult))
            layers.append(DepthwiseSeparable(c, cout, stride))
            c = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.fc(x.flatten(1))
