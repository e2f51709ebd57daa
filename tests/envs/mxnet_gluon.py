"""Run in the MXNet test environment: build a small Gluon network (random weights and BatchNorm statistics),
hybridize it, run it on a seeded input and export it as OUT-symbol.json + OUT-0000.params (Gluon's own
`export`); its output goes to OUT-outputs.npz.

usage: mxnet_gluon.py OUT
"""

import sys

import mxnet as mx
import numpy as np
from mxnet.gluon import nn


class Block(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = nn.Conv2D(8, 3, padding=1, in_channels=3)
        self.bn = nn.BatchNorm(in_channels=8)
        self.prelu = nn.PReLU()
        self.pool = nn.MaxPool2D(3, 2, ceil_mode=True)
        self.up = nn.Conv2DTranspose(4, 4, strides=2, padding=1, in_channels=8)
        self.avg = nn.AvgPool2D(2, 2, count_include_pad=False)
        self.gap = nn.GlobalAvgPool2D()
        self.norm = nn.LayerNorm(in_channels=4)
        self.dense = nn.Dense(5, in_units=4 * 5 * 5)
        self.drop = nn.Dropout(0.5)

    def hybrid_forward(self, F, x):
        y = self.pool(self.prelu(self.bn(self.conv(x))))
        y = self.avg(F.relu(self.up(y)) * 0.5 + 1)
        z = self.norm(y.transpose((0, 2, 3, 1))).transpose((0, 3, 1, 2))
        logits = self.dense(self.drop(F.concat(z, y, dim=1).slice_axis(axis=1, begin=0, end=4)))
        return F.softmax(logits), self.gap(F.sigmoid(z)).flatten()


def main(out):
    mx.random.seed(0)
    np.random.seed(0)
    net = Block()
    net.initialize(mx.init.Normal(0.5))
    for name, param in net.collect_params().items():
        shape = param.shape
        if name.endswith("running_var"):
            param.set_data(mx.nd.array(np.random.uniform(0.5, 2.0, shape)))
        elif name.endswith(("running_mean", "beta", "gamma", "alpha")):
            param.set_data(mx.nd.array(np.random.normal(0, 0.5, shape) + (1 if name.endswith("gamma") else 0)))
    net.hybridize()
    x = mx.nd.array(np.random.default_rng(1).standard_normal((1, 3, 11, 11)).astype(np.float32))
    outs = net(x)
    np.savez(out + "-outputs.npz", x=x.asnumpy(), **{f"o{i}": o.asnumpy() for i, o in enumerate(outs)})
    net.export(out, epoch=0)


if __name__ == "__main__":
    main(sys.argv[1])
