"""A small CNN written the way users write models in their own scripts (the case MMdnn could not convert).

    python examples/tinynet.py OUT.pth    # saves a state_dict with seeded random weights and BN statistics
"""

import sys

import torch
from torch import nn


class Block(nn.Module):
    """Depthwise-separable residual block: 3x3 depthwise, 1x1 pointwise, batch norm, ReLU6, skip."""

    def __init__(self, channels):
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.pw = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.act = nn.ReLU6()

    def forward(self, x):
        y = self.act(self.bn1(self.dw(x)))
        return self.act(self.bn2(self.pw(y)) + x)


class TinyNet(nn.Module):
    def __init__(self, num_classes=10, width=16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(Block(width), Block(width))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = torch.flatten(self.pool(x), 1)
        return torch.softmax(self.fc(self.dropout(x)), dim=1)


def randomized(seed=0):
    """TinyNet with random weights and random BatchNorm statistics (fresh BN statistics hide bugs)."""
    torch.manual_seed(seed)
    model = TinyNet()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.uniform_(0.5, 2.0)
            elif name.endswith(("running_mean", "bias")):
                t.normal_(0, 0.3)
            elif name.endswith("weight") and t.dim() == 1:
                t.uniform_(0.5, 1.5)
    return model.eval()


if __name__ == "__main__":
    torch.save(randomized().state_dict(), sys.argv[1] if len(sys.argv) > 1 else "tinynet.pth")
