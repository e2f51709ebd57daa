"""Tiny-YOLO v2 and v3, layer for layer from the darknet configurations (yolov2-tiny.cfg,
yolov3-tiny.cfg): conv + BN + LeakyReLU(0.1) blocks, 2x2 max pooling, the last pooling at stride 1
(darknet pads its right and bottom edge: ZeroPad2d + MaxPool2d(2, 1)), linear 1x1 detection
convolutions; v3 adds a second head fed by a nearest 2x upsample concatenated with an earlier
feature map (a route/skip). The region/yolo decoding layers are not part of the network."""

from __future__ import annotations

import torch
import torch.nn as nn


class ConvBNLeaky(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, 1, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


def _w(c, width):
    return max(4, int(c * width))


class MaxPoolStride1(nn.Module):
    """darknet's [maxpool] size=2 stride=1: keeps the spatial size."""

    def __init__(self):
        super().__init__()
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))
        self.pool = nn.MaxPool2d(2, 1)

    def forward(self, x):
        return self.pool(self.pad(x))


class TinyYoloV2(nn.Module):
    def __init__(self, num_classes=80, num_anchors=5, width=1.0):
        super().__init__()
        c = [_w(x, width) for x in (16, 32, 64, 128, 256, 512, 1024, 512)]
        layers, cin = [], 3
        for i, cout in enumerate(c[:6]):
            layers.append(ConvBNLeaky(cin, cout, 3))
            layers.append(nn.MaxPool2d(2, 2) if i < 5 else MaxPoolStride1())
            cin = cout
        layers += [ConvBNLeaky(c[5], c[6], 3), ConvBNLeaky(c[6], c[7], 3)]
        self.features = nn.Sequential(*layers)
        self.detect = nn.Conv2d(c[7], num_anchors * (5 + num_classes), 1)

    def forward(self, x):
        return self.detect(self.features(x))


class TinyYoloV3(nn.Module):
    def __init__(self, num_classes=80, num_anchors=3, width=1.0):
        super().__init__()
        w = lambda c: _w(c, width)  # noqa: E731
        out = num_anchors * (5 + num_classes)
        self.backbone1 = nn.Sequential(  # layers 0-8: to the route target (stride 16)
            ConvBNLeaky(3, w(16), 3), nn.MaxPool2d(2, 2),
            ConvBNLeaky(w(16), w(32), 3), nn.MaxPool2d(2, 2),
            ConvBNLeaky(w(32), w(64), 3), nn.MaxPool2d(2, 2),
            ConvBNLeaky(w(64), w(128), 3), nn.MaxPool2d(2, 2),
            ConvBNLeaky(w(128), w(256), 3))
        self.backbone2 = nn.Sequential(  # layers 9-13
            nn.MaxPool2d(2, 2), ConvBNLeaky(w(256), w(512), 3), MaxPoolStride1(),
            ConvBNLeaky(w(512), w(1024), 3), ConvBNLeaky(w(1024), w(256), 1))
        self.head1 = nn.Sequential(ConvBNLeaky(w(256), w(512), 3), nn.Conv2d(w(512), out, 1))  # layers 14-15
        self.lateral = ConvBNLeaky(w(256), w(128), 1)  # layer 18
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")  # layer 19
        self.head2 = nn.Sequential(ConvBNLeaky(w(128) + w(256), w(256), 3), nn.Conv2d(w(256), out, 1))  # 21-22

    def forward(self, x):
        route = self.backbone1(x)
        x = self.backbone2(route)
        y1 = self.head1(x)
        up = self.upsample(self.lateral(x))
        y2 = self.head2(torch.cat([up, route], 1))  # layer 20: route -1, 8
        return y1, y2
